#!/usr/bin/env bash
# Regenerates the test certificates in this folder (see README.md).
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
days=36500
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/ca.key" -out ca.crt -days $days \
  -subj "/CN=tornado-cpp test CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout server.key -out "$tmp/server.csr" -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n' > "$tmp/ext"
openssl x509 -req -in "$tmp/server.csr" -CA ca.crt -CAkey "$tmp/ca.key" -CAserial "$tmp/ca.srl" -CAcreateserial -out server.crt \
  -days $days -extfile "$tmp/ext" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days $days \
  -subj "/CN=other.example" -addext "subjectAltName=DNS:other.example" 2>/dev/null
