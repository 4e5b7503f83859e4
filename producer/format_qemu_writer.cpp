// format/qemu_writer.cpp belongs to the pvformat library, whose source list in
// the top-level CMakeLists.txt is explicit (format/ is not globbed). Until it is
// added there, it is compiled into pvproducer through this file. Remove this
// file when CMakeLists.txt lists format/qemu_writer.cpp.
#include "format/qemu_writer.cpp"
