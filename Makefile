# pochta - the four targets people use. CMake and CTest do the work underneath.
#   make        build build/pochtad and build/pochta
#   make run    install packages, build, start a demo server (see README)
#   make test   install packages, build (plain and ASan/UBSan), run every test
#   make bench  install packages (Postfix too), build, compare with Postfix

JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps run test bench clean

all:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build build -j$(JOBS)

deps:
	scripts/deps.sh

run: deps all
	scripts/run-demo.sh

test: deps
	scripts/test.sh

bench:
	scripts/deps.sh --bench
	$(MAKE) all
	bench/run.sh

clean:
	rm -rf build build-asan build-fuzz
