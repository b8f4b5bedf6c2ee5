-- TechEmpower's wrk script for the pipelined plaintext test (toolset/wrk/pipeline.lua in
-- FrameworkBenchmarks): each write sends `depth` requests back to back (16 in TechEmpower's runs:
-- `wrk ... -s pipeline.lua -- 16`).
init = function(args)
  local r = {}
  local depth = tonumber(args[1]) or 1
  for i=1,depth do
    r[i] = wrk.format()
  end
  req = table.concat(r)
end

request = function()
  return req
end
