// tornado.web:signing: signed values (create_signed_value / decode_signed_value, formats 1 and 2),
// Set-Cookie formatting and XSRF token masking, byte-compatible with Python Tornado 6.2.
module;
#include <string>
export module tornado.web:signing;
