"""PyTorch counterpart of bench/matmul: the same products, float32, CPU.

    .oracle-venv/bin/python bench/matmul/torch_matmul.py [threads] [reps]
"""
import sys
import time

import torch

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
torch.set_num_threads(threads)
print("torch %s, %d threads" % (torch.__version__, threads))
for M, K, N in [(1024, 768, 2048), (1024, 2048, 768), (1024, 768, 768), (256, 768, 32000)]:
    a = torch.arange(M * K, dtype=torch.float32).remainder(7).mul(0.01)
    b = torch.arange(K * N, dtype=torch.float32).remainder(5).mul(0.01)
    cases = {
        "NN": (a.view(M, K), b.view(K, N), lambda x, y: x @ y),
        "NT": (a.view(M, K), b.view(N, K), lambda x, y: x @ y.t()),
        "TN": (a.view(K, M), b.view(K, N), lambda x, y: x.t() @ y),
    }
    for name, (x, y, f) in cases.items():
        f(x, y)
        t = time.perf_counter()
        for _ in range(reps):
            f(x, y)
        sec = (time.perf_counter() - t) / reps
        print("%s M=%d K=%d N=%d: %.1f ms, %.1f GFLOP/s" % (name, M, K, N, sec * 1e3, 2 * M * K * N / sec / 1e9))
