# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# mcxfer top-level build.  `make` builds the module, the library and the
# tools; `make demo` and `make test` are the two commands of the README.

PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR     ?= $(PREFIX)/bin
UDEVDIR    ?= /etc/udev/rules.d
MANDIR     ?= $(PREFIX)/share/man
DESTDIR    ?=

VERSION    := $(shell cat VERSION)

export PREFIX LIBDIR INCLUDEDIR BINDIR MANDIR DESTDIR VERSION

.PHONY: all kmod lib tools test demo install uninstall install-man \
	uninstall-man dkms-install dkms-uninstall clean check-kmod deb

all: kmod lib tools

# KVER/KDIR pick the kernel; see kmod/Makefile for the defaults.
kmod:
	$(MAKE) -C kmod

lib:
	$(MAKE) -C lib

tools: lib
	$(MAKE) -C tools

# Style and static checks of the kernel side (checkpatch, sparse, W=1 on
# every installed Debian kernel's headers).
check-kmod:
	tests/check-kmod.sh

# Both first check the Debian packages they need (tests/deps.sh installs
# the missing ones as root, or prints the command to run).
test:
	tests/deps.sh
	tests/run-all.sh

demo:
	tests/deps.sh
	$(MAKE) all
	$(MAKE) -C tests integration
	tests/vm/demo.sh

install: lib tools install-man
	$(MAKE) -C lib install
	$(MAKE) -C tools install
	install -d $(DESTDIR)$(UDEVDIR)
	install -m 0644 udev/60-mcxfer.rules $(DESTDIR)$(UDEVDIR)/60-mcxfer.rules
	@if [ -z "$(DESTDIR)" ]; then \
		getent group mcxfer >/dev/null || groupadd --system mcxfer; \
		udevadm control --reload-rules 2>/dev/null || true; \
	fi

uninstall: uninstall-man
	$(MAKE) -C lib uninstall
	$(MAKE) -C tools uninstall
	rm -f $(DESTDIR)$(UDEVDIR)/60-mcxfer.rules

# Manual pages: man/manN/*.N to MANDIR/manN.  The pages that only say
# ".so man3/other.3" go as they are: man(1) resolves them from MANDIR.
MAN_SECTIONS := 1 3 4 7 8
MAN_PAGES    := $(foreach s,$(MAN_SECTIONS),$(wildcard man/man$(s)/*.$(s)))

install-man:
	@set -e; for s in $(MAN_SECTIONS); do \
		install -d $(DESTDIR)$(MANDIR)/man$$s; \
	done
	@set -e; for p in $(MAN_PAGES); do \
		install -m 0644 $$p $(DESTDIR)$(MANDIR)/$${p#man/}; \
	done

uninstall-man:
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/,$(patsubst man/%,%,$(MAN_PAGES)))

# DKMS builds mcxfer.ko for every installed kernel and for each new one.
DKMS_SRC := /usr/src/mcxfer-$(VERSION)

dkms-install:
	rm -rf $(DKMS_SRC)
	install -d $(DKMS_SRC)/kmod $(DKMS_SRC)/include/uapi/linux
	cp -a kmod/. $(DKMS_SRC)/kmod/
	$(MAKE) -C $(DKMS_SRC)/kmod clean >/dev/null
	cp -a include/uapi/linux/mcxfer.h $(DKMS_SRC)/include/uapi/linux/
	sed 's/@VERSION@/$(VERSION)/' dkms.conf > $(DKMS_SRC)/dkms.conf
	dkms add -m mcxfer -v $(VERSION)
	dkms install -m mcxfer -v $(VERSION)

dkms-uninstall:
	-dkms remove -m mcxfer -v $(VERSION) --all
	rm -rf $(DKMS_SRC)

# Debian packages (debian/): dpkg-buildpackage on a copy of the tree's
# files (tracked and untracked, not ignored) in build/deb/mcxfer-VERSION, so
# that the .debs land in build/deb and the tree's own build/ stays out.
DEB_DIR := build/deb

deb:
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/mcxfer-$(VERSION)
	git ls-files -z -co --exclude-standard | \
		xargs -0 sh -c 'for f; do [ -e "$$f" ] && printf "%s\0" "$$f"; done' sh | \
		xargs -0 cp -a --parents -t $(DEB_DIR)/mcxfer-$(VERSION)
	cd $(DEB_DIR)/mcxfer-$(VERSION) && dpkg-buildpackage -us -uc -b
	@ls $(DEB_DIR)/*.deb

clean:
	$(MAKE) -C kmod clean
	$(MAKE) -C lib clean
	$(MAKE) -C tools clean
	$(MAKE) -C tests clean
