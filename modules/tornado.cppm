// `import tornado;` brings in every module of the library.
export module tornado;

export import tornado.util;
export import tornado.log;
export import tornado.concurrent;
export import tornado.ioloop;
export import tornado.gen;
export import tornado.locks;
export import tornado.queues;
export import tornado.netutil;
export import tornado.iostream;
export import tornado.tcpserver;
export import tornado.tcpclient;
export import tornado.process;
export import tornado.escape;
export import tornado.httputil;
export import tornado.http1connection;
export import tornado.httpserver;
export import tornado.httpclient;
export import tornado.routing;
export import tornado.web;
