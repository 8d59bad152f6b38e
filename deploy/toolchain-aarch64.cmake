# CMake toolchain for building Perch for arm64 (Raspberry Pi 4B: Cortex-A72, Debian or Raspberry
# Pi OS arm64) on an amd64 Debian 12 machine, with the packages deploy/install-cross-deps.sh
# installs. Tests run under qemu-user, so ctest works unchanged.
# usage: cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=deploy/toolchain-aarch64.cmake
#   PERCH_AARCH64_CPU  -mcpu value (default cortex-a72, the Pi 4B; "generic" for any arm64 board)
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(PERCH_AARCH64_TRIPLET aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${PERCH_AARCH64_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${PERCH_AARCH64_TRIPLET}-g++)
set(CMAKE_AR ${PERCH_AARCH64_TRIPLET}-ar CACHE FILEPATH "Archiver")
set(CMAKE_RANLIB ${PERCH_AARCH64_TRIPLET}-ranlib CACHE FILEPATH "Ranlib")
set(CMAKE_STRIP ${PERCH_AARCH64_TRIPLET}-strip CACHE FILEPATH "Strip")

# Tune for the Pi 4B's cores. The code stays plain ARMv8-A, so it runs on any arm64 machine.
set(PERCH_AARCH64_CPU cortex-a72 CACHE STRING "Value of -mcpu for the aarch64 build")
set(CMAKE_C_FLAGS_INIT "-mcpu=${PERCH_AARCH64_CPU}")
set(CMAKE_CXX_FLAGS_INIT "-mcpu=${PERCH_AARCH64_CPU}")

# Debian multiarch: the arm64 libraries live beside the amd64 ones under the root, in
# /usr/lib/aarch64-linux-gnu (their CMake package files in .../cmake, pkg-config files in
# .../pkgconfig); the cross C library and libstdc++ live in /usr/aarch64-linux-gnu.
set(CMAKE_LIBRARY_ARCHITECTURE ${PERCH_AARCH64_TRIPLET})
set(CMAKE_FIND_ROOT_PATH /usr/${PERCH_AARCH64_TRIPLET} /)
# Programs (pkg-config, mosquitto, node) are the build machine's; libraries, headers and packages
# come only from the arm64 locations, never from /usr/lib/x86_64-linux-gnu.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_IGNORE_PATH /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu)

# libpq (the PostgreSQL chat store): the arm64 libpq-dev that deploy/install-cross-deps.sh
# unpacks (it cannot be installed beside the amd64 one), and the installed libpq5:arm64. Without
# them FindPostgreSQL finds no arm64 libpq and the build goes without PostgreSQL.
set(PERCH_AARCH64_LIBPQ_DEV /opt/perch-cross/libpq-dev-arm64
    CACHE PATH "The unpacked libpq-dev:arm64 (deploy/install-cross-deps.sh)")
if(EXISTS ${PERCH_AARCH64_LIBPQ_DEV}/usr/include/postgresql/libpq-fe.h
   AND EXISTS /usr/lib/${PERCH_AARCH64_TRIPLET}/libpq.so.5)
    set(PostgreSQL_INCLUDE_DIR ${PERCH_AARCH64_LIBPQ_DEV}/usr/include/postgresql
        CACHE PATH "libpq's arm64 headers")
    # The server headers are not needed; this keeps FindPostgreSQL from taking amd64 ones.
    set(PostgreSQL_TYPE_INCLUDE_DIR ${PERCH_AARCH64_LIBPQ_DEV}/usr/include/postgresql
        CACHE PATH "libpq's arm64 headers")
    set(PostgreSQL_LIBRARY /usr/lib/${PERCH_AARCH64_TRIPLET}/libpq.so.5
        CACHE FILEPATH "libpq for arm64")
endif()

# pkg-config: only the arm64 and architecture-independent .pc files.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${PERCH_AARCH64_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

# Run aarch64 programs (test discovery, ctest) under qemu-user, with the arm64 multiarch C library
# (libc6:arm64, which the :arm64 -dev packages install) as the one loaded at run time. Not
# "-L /usr/aarch64-linux-gnu": that prefix supplies the cross package's ld.so, but the libraries
# found through the loader's cache come from libc6:arm64, a different glibc build, and a loader
# and libc.so.6 from different builds hang at the first pthread_create. Linking against the
# cross C library and running on the (same-series, newer) multiarch one is the usual ABI promise.
find_program(PERCH_QEMU_AARCH64 qemu-aarch64 REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${PERCH_QEMU_AARCH64} -L /)
