//go:build xla && linux

package engine

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

static void *dpo_dlopen(const char *path, char **err) {
	dlerror();
	void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
	if (h == NULL) {
		*err = dlerror();
	}
	return h;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

func init() { preloadLibraries = dlopenGlobal }

// dlopenGlobal loads each library with RTLD_NOW|RTLD_GLOBAL and keeps it
// loaded for the life of the process: a later dlopen of the CUDA plugin
// then finds its dependencies by soname among the loaded objects, whatever
// LD_LIBRARY_PATH was when the process started.
func dlopenGlobal(paths []string) []error {
	var errs []error
	for _, p := range paths {
		cp := C.CString(p)
		var cerr *C.char
		h := C.dpo_dlopen(cp, &cerr)
		C.free(unsafe.Pointer(cp))
		if h == nil {
			msg := "unknown error"
			if cerr != nil {
				msg = C.GoString(cerr)
			}
			errs = append(errs, fmt.Errorf("loading %s: %s", p, msg))
		}
	}
	return errs
}
