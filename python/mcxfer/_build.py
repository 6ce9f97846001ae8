# SPDX-License-Identifier: GPL-2.0 OR MIT
"""Build the ``mcxfer._mcxfer`` extension with cffi in API mode.

The declarations given to cffi are derived from ``mcxfer.h`` itself at build
time (comments, preprocessor lines and the C++ guard dropped; integer
``#define``s kept), and the generated C file includes that same header, so
the C compiler checks every struct field cffi uses against the real layout:
there is no second copy of the structs that could drift from the header.

Where the header and the library are found, first match wins:

* ``MCXFER_INCLUDE_DIR`` / ``MCXFER_LIB_DIR`` in the environment;
* the source tree this package lives in (``../include``, ``../build/lib``),
  when the library was built there; the library directory is then recorded
  as the extension's run path, so a venv works without LD_LIBRARY_PATH;
* ``pkg-config libmcxfer``;
* the compiler's default paths (``/usr/include``, ``/usr/local/include``).
"""
import os
import re
import shutil
import subprocess

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
TREE = os.path.normpath(os.path.join(HERE, "..", ".."))

# Directories the dynamic loader searches anyway: no run path for those.
SYSTEM_LIBDIRS = {"/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/lib/x86_64-linux-gnu",
                  "/lib/x86_64-linux-gnu", "/usr/local/lib"}


def _pkg_config(*args):
    if not shutil.which("pkg-config"):
        return None
    try:
        out = subprocess.run(["pkg-config", *args, "libmcxfer"], check=True,
                             capture_output=True, text=True).stdout
    except subprocess.CalledProcessError:
        return None
    return out.strip()


def locate():
    """(include_dir or None, lib_dir or None, run path list)."""
    inc = os.environ.get("MCXFER_INCLUDE_DIR")
    lib = os.environ.get("MCXFER_LIB_DIR")
    if inc or lib:
        return inc, lib, [lib] if lib and lib not in SYSTEM_LIBDIRS else []
    tree_inc = os.path.join(TREE, "include")
    tree_lib = os.path.join(TREE, "build", "lib")
    if (os.path.exists(os.path.join(tree_inc, "mcxfer.h"))
            and os.path.exists(os.path.join(tree_lib, "libmcxfer.so"))):
        return tree_inc, tree_lib, [tree_lib]
    cflags = _pkg_config("--cflags-only-I")
    libs = _pkg_config("--libs-only-L")
    if cflags is not None:
        inc = cflags.split()[0][2:] if cflags else None
        lib = libs.split()[0][2:] if libs else None
        return inc, lib, [lib] if lib and lib not in SYSTEM_LIBDIRS else []
    return None, None, []


def find_header(inc):
    dirs = [inc] if inc else ["/usr/local/include", "/usr/include"]
    for d in dirs:
        path = os.path.join(d, "mcxfer.h")
        if os.path.exists(path):
            return path
    raise RuntimeError("mcxfer.h not found in %s: build the library (make lib) or set "
                       "MCXFER_INCLUDE_DIR and MCXFER_LIB_DIR" % ", ".join(dirs))


_DEFINE = re.compile(r"^#\s*define\s+(MCX_\w+)\s+(.+)$")


def cdef_from_header(text):
    """The header's declarations in the form cffi's cdef() parses."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    out = []
    literals = {}
    skip = 0
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#"):
            if re.match(r"#\s*ifdef\s+__cplusplus", s):
                skip = 1
            elif re.match(r"#\s*endif", s) and skip:
                skip = 0
            else:
                m = _DEFINE.match(s)
                if m and not m.group(1).endswith("_H"):
                    name, value = m.group(1), m.group(2).strip()
                    if re.fullmatch(r"\d+", value):
                        literals[name] = value
                        out.append("#define %s %s" % (name, value))
                    else:
                        # Any other integer expression: the compiler's value.
                        out.append("#define %s ..." % name)
            continue
        if skip:
            continue
        out.append(line)
    body = "\n".join(out)
    # Array sizes written with a constant: cffi needs the number itself.
    for name, value in literals.items():
        body = re.sub(r"\[\s*%s\s*\]" % name, "[%s]" % value, body)
    return body


# Not in the header: a log handler that also keeps, per thread, the last
# message at warn or above, so that an exception can quote what the library
# said about the call that failed (mcx_strerror() alone is generic).
HELPERS_CDEF = """
void mcxpy_log_install(void);
void mcxpy_log_clear(void);
const char *mcxpy_log_last(void);
int mcxpy_log_passthrough(int on);
int mcxpy_block_read(int fd);
int mcxpy_batch_add(struct mcx_batch *b, int op, struct mcx_peer *peer, uint64_t local,
                    uint64_t remote, size_t len, uint64_t cookie);
int mcxpy_batch_add_v(struct mcx_batch *b, int op, struct mcx_peer *peer,
                      const uint64_t *local, const uint64_t *remote, const uint64_t *len,
                      uint64_t one_len, const uint64_t *cookie, size_t n, size_t *added);
int mcxpy_batch_submit(struct mcx_batch *b);
int mcxpy_batch_status_codes(struct mcx_batch *b, struct mcx_status *st, int32_t *codes,
                             size_t cap);
"""

HELPERS_SRC = r"""
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <stdint.h>
#include <mcxfer.h>

static _Thread_local char mcxpy_last[512];
static int mcxpy_print = 1;
static const char *const mcxpy_levels[] = { "off", "error", "warn", "info", "debug" };

static void mcxpy_log(enum mcx_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level <= MCX_LOG_WARN)
		snprintf(mcxpy_last, sizeof(mcxpy_last), "%s", msg);
	if (mcxpy_print)
		fprintf(stderr, "mcxfer: %s: %s\n",
			(unsigned int)level < 5 ? mcxpy_levels[level] : "?", msg);
}

void mcxpy_log_install(void) { mcx_log_set_handler(mcxpy_log, NULL); }
void mcxpy_log_clear(void) { mcxpy_last[0] = '\0'; }
const char *mcxpy_log_last(void) { return mcxpy_last; }
int mcxpy_log_passthrough(int on) { int old = mcxpy_print; mcxpy_print = on; return old; }

/*
 * The batch's hot path: an address as an integer (no pointer object to make
 * per request), and n requests in one call, so that a Python caller pays
 * one crossing for a whole batch.  len NULL: every request is one_len
 * bytes; cookie NULL: request i's cookie is i.  *added: requests queued
 * before an error.
 */
int mcxpy_batch_add(struct mcx_batch *b, int op, struct mcx_peer *peer, uint64_t local,
		    uint64_t remote, size_t len, uint64_t cookie)
{
	return mcx_batch_add(b, (enum mcx_op)op, peer, (void *)(uintptr_t)local, remote, len,
			     cookie);
}

int mcxpy_batch_add_v(struct mcx_batch *b, int op, struct mcx_peer *peer,
		      const uint64_t *local, const uint64_t *remote, const uint64_t *len,
		      uint64_t one_len, const uint64_t *cookie, size_t n, size_t *added)
{
	size_t i;
	int ret = 0;

	for (i = 0; i < n; i++) {
		ret = mcx_batch_add(b, (enum mcx_op)op, peer, (void *)(uintptr_t)local[i],
				    remote[i], len ? len[i] : one_len, cookie ? cookie[i] : i);
		if (ret)
			break;
	}
	*added = i;
	return ret;
}

/* Submit with the per-thread message cleared first: one crossing, not two. */
int mcxpy_batch_submit(struct mcx_batch *b)
{
	mcxpy_last[0] = '\0';
	return mcx_batch_submit(b);
}

/*
 * The status codes alone, in add order, into int32 codes[] (st[] is the
 * caller's scratch of cap entries): what Python turns into one compact
 * array instead of an object per request.  Returns the count or -errno.
 */
int mcxpy_batch_status_codes(struct mcx_batch *b, struct mcx_status *st, int32_t *codes,
			     size_t cap)
{
	int n = mcx_batch_status(b, st, cap);

	for (int i = 0; i < n; i++)
		codes[i] = st[i].status;
	return n;
}

/* Blocks in read(2): the tests' proof that calls run without the GIL. */
int mcxpy_block_read(int fd)
{
	char c;
	ssize_t n = read(fd, &c, 1);

	return n < 0 ? -errno : (int)n;
}
"""


def make_ffi():
    inc, lib, rpath = locate()
    header = find_header(inc)
    with open(header, encoding="utf-8") as f:
        cdef = cdef_from_header(f.read())
    ffibuilder = FFI()
    ffibuilder.cdef(cdef + HELPERS_CDEF)
    ffibuilder.set_source(
        "mcxfer._mcxfer",
        HELPERS_SRC,
        include_dirs=[os.path.dirname(header)],
        library_dirs=[lib] if lib else [],
        runtime_library_dirs=rpath,
        libraries=["mcxfer"],
        extra_compile_args=["-std=gnu11", "-Wall", "-Werror"],
    )
    return ffibuilder


ffibuilder = make_ffi()

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
