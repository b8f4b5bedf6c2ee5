// tornado.web:signing implementation.
module;
#include <string>
module tornado.web;
