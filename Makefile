# pochta - the four targets people use. CMake and CTest do the work underneath.
#   make        build build/pochtad and build/pochta
#   make run    install packages, build, start a demo server (see README)
#   make test   install packages, build (plain and ASan/UBSan), run every test
#   make bench  install packages (Postfix too), build, compare with Postfix

JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps run test bench clean install

# make install [PREFIX=/usr/local] [DESTDIR=] [SENDMAIL=yes]
#   SENDMAIL=yes also links /usr/sbin/sendmail to pochta (refused when another
#   MTA's sendmail is there; remove that first). Local programs then run
#   "sendmail -t -i" with POCHTA_CONFIG (default /etc/pochta/pochta.conf).
PREFIX ?= /usr/local
SENDMAIL ?= no

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

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin
	install -m 0755 build/pochtad build/pochta $(DESTDIR)$(PREFIX)/sbin/
	@if [ "$(SENDMAIL)" = yes ]; then \
	  t=$(DESTDIR)/usr/sbin/sendmail; install -d $(DESTDIR)/usr/sbin; \
	  if { [ -e "$$t" ] || [ -L "$$t" ]; } && [ "$$(readlink "$$t")" != "$(PREFIX)/sbin/pochta" ]; then \
	    echo "make install: $$t belongs to another mail system; not replacing it" >&2; exit 1; fi; \
	  ln -sf $(PREFIX)/sbin/pochta "$$t"; echo "linked $$t -> $(PREFIX)/sbin/pochta"; fi

clean:
	rm -rf build build-asan build-fuzz
