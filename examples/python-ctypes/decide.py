"""Decides from several Python threads with one talktrack engine through the C ABI.

Standard library only (ctypes). Build the library first (`cargo build -p talktrack-capi`),
then, from the repository root:

    python3 examples/python-ctypes/decide.py target/debug/libtalktrack_capi.so policies/telecom-upsell
"""

import ctypes
import json
import sys
import threading

THREADS = 4
DECISIONS_PER_THREAD = 25
OK = 0  # TALKTRACK_OK in talktrack.h


def load(lib_path):
    lib = ctypes.CDLL(lib_path)
    lib.talktrack_abi_version.restype = ctypes.c_uint32
    lib.talktrack_last_error.restype = ctypes.c_char_p
    lib.talktrack_engine_new.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.talktrack_engine_new.restype = ctypes.c_int
    # Returned strings are kept as raw pointers so they can be handed back to be freed.
    lib.talktrack_engine_decide.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.talktrack_engine_decide.restype = ctypes.c_int
    lib.talktrack_engine_identity.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.talktrack_engine_identity.restype = ctypes.c_int
    lib.talktrack_engine_reload.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.talktrack_engine_reload.restype = ctypes.c_int
    lib.talktrack_engine_free.argtypes = [ctypes.c_void_p]
    lib.talktrack_engine_free.restype = ctypes.c_int
    lib.talktrack_string_free.argtypes = [ctypes.c_void_p]
    lib.talktrack_string_free.restype = ctypes.c_int
    return lib


class TalkTrackError(Exception):
    def __init__(self, status, message):
        super().__init__(f"status {status}: {message}")
        self.status = status


class Engine:
    def __init__(self, lib, bundle_path):
        self._lib = lib
        self._handle = ctypes.c_void_p()
        self._check(lib.talktrack_engine_new(bundle_path.encode(), ctypes.byref(self._handle)))

    def _check(self, status):
        if status != OK:
            raise TalkTrackError(status, self._lib.talktrack_last_error().decode())

    def _take_json(self, ptr):
        try:
            return json.loads(ctypes.string_at(ptr.value).decode())
        finally:
            self._lib.talktrack_string_free(ptr)

    def decide(self, request):
        out = ctypes.c_void_p()
        self._check(self._lib.talktrack_engine_decide(
            self._handle, json.dumps(request).encode(), ctypes.byref(out)))
        return self._take_json(out)

    def identity(self):
        out = ctypes.c_void_p()
        self._check(self._lib.talktrack_engine_identity(self._handle, ctypes.byref(out)))
        return self._take_json(out)

    def reload(self, bundle_path):
        self._check(self._lib.talktrack_engine_reload(self._handle, bundle_path.encode()))

    def close(self):
        self._lib.talktrack_engine_free(self._handle)


def request(n):
    return {
        "conversation_id": f"c-{n}",
        "time": "2026-11-26T10:05:00Z",
        "context": {
            "age": 34, "region": "north", "segment": "young_family", "plan": "basic",
            "tenure_months": 30, "monthly_spend": 25.0, "open_complaint": False,
            "marketing_consent": True, "credit_score": 700, "products": [],
        },
        "history": {"tracks": ["greet"], "replies": ["positive"]},
    }


def main():
    lib_path = sys.argv[1] if len(sys.argv) > 1 else "target/debug/libtalktrack_capi.so"
    bundle = sys.argv[2] if len(sys.argv) > 2 else "policies/telecom-upsell"
    lib = load(lib_path)
    print(f"abi {lib.talktrack_abi_version()}")
    engine = Engine(lib, bundle)
    print(f"serving {json.dumps(engine.identity())}")

    firsts = [None] * THREADS
    failures = []

    def worker(t):
        for i in range(DECISIONS_PER_THREAD):
            try:
                decision = engine.decide(request(t * 1000 + i))
            except TalkTrackError as e:
                failures.append(str(e))
                continue
            if i == 0:
                firsts[t] = decision

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for t, d in enumerate(firsts):
        print(f"thread {t}: {json.dumps(d, sort_keys=True)}")

    try:
        engine.decide({"conversation_id": "c-bad", "bogus": 1})
    except TalkTrackError as e:
        print(f"bad request: {e}")

    engine.close()
    print(f"{THREADS * DECISIONS_PER_THREAD} decisions, {len(failures)} failures")
    for f in failures:
        print(f, file=sys.stderr)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
