"""llama.cpp's HTTP server (embedded by the `xllamacpp` wheel) on a GGUF model, for end-to-end tests.

Usage: llm_server.py MODEL.gguf PORT

Serves the OpenAI-compatible API on 127.0.0.1:PORT with one slot and one thread (two threads spin-wait and
slow down a busy 2-core machine), `/metrics` on, model alias `tiny-test`. llama.cpp logs to stderr, including
`cancel task` when a client drops a stream. Runs until SIGTERM.
"""

import signal
import sys
import time

import xllamacpp as xlc


def main(model, port):
    params = xlc.CommonParams()
    params.model.path = model
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = 4096
    params.n_parallel = 1
    params.cpuparams.n_threads = 1
    params.cpuparams_batch.n_threads = 1
    params.endpoint_metrics = True
    params.offline = True
    params.ui = False
    params.model_alias = {"tiny-test"}
    server = xlc.Server(params)
    print(f"listening on {server.listening_address}", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
