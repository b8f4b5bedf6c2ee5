// tornado.web: Application, RequestHandler and the built-in handlers. Mirrors tornado.web.
module;
export module tornado.web;

export import tornado.httpserver;
export import tornado.escape;
export import :signing;
