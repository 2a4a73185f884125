"""Training-epoch benchmark: tensor-resident data path vs the textbook DataLoader pipeline.

One process, full Fashion-MNIST offline (Debian's ``dataset-fashion-mnist``: 60,000 training and
10,000 test images), the same model (``cnnkit.models.LeNet5``, the modern LeNet-5), the same
initial weights, optimiser (Adam, lr 1e-3), batch size and order of the samples on every path:

- textbook: ``DataLoader(datasets.FashionMNIST(root, transform=Compose([ToTensor(),
  Normalize(mean, std)])), batch_size, shuffle=True)`` and the loop every tutorial writes. Each
  sample goes through PIL and ``ToTensor`` and is collated in Python. torchvision reads the same
  Debian files: they are decompressed into the layout it expects (``<tmp>/FashionMNIST/raw/``,
  uncompressed IDX files), and nothing is downloaded. Its sampler draws the same permutations
  as the TensorLoader's, so the accuracies of the paths differ only by rounding.
- tensor-resident: ``cnnkit.data.TensorLoader`` (the uint8 tensor stays in memory; a batch is
  one index, one conversion, one normalisation) driving ``cnnkit.train.fit(optimizer="adam",
  channels_last=True)``.
- for the breakdown, the tensor-resident loader with the same steps in the default NCHW layout
  (shows how much comes from the data path and how much from the memory format).

The paths run *interleaved*: every 20 batches that ``fit`` takes, the other paths do 20 steps
each and a 1024^3 matmul measures the machine's throughput at that moment. On a shared machine
the load changes from minute to minute; chunks a fraction of a second apart see the same load,
so the ratios are taken per chunk (the median of the chunk ratios), and the time each path
spent in all its chunks is reported as its epoch time.

Reported: the epoch-time ratio textbook / tensor-resident (target >= 2), the test accuracy after
the epochs (target: within 0.5 points), and the ratio to the arithmetic floor, MACs per epoch
x 3 (forward, and a backward pass of about twice the forward's work) / the float32 matmul
throughput (target: within 4x).

Run: ``python benchmarks/train.py`` (``--help``; ``--limit 10000`` for a quick run). By
default the process runs as a notebook kernel does. With ``--tuned-malloc`` it re-executes itself,
like ``benchmarks/conv.py``, with glibc's malloc thresholds raised, so that freed activation
buffers (a megabyte or more each) are reused instead of being mmap'ed and page-faulted anew at
every step (on Linux that alone makes a LeNet training step in NCHW about 1.5x faster).
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "1000000000", "MALLOC_TRIM_THRESHOLD_": "1000000000"}
if (__name__ == "__main__" and "--tuned-malloc" in sys.argv
        and any(os.environ.get(k) != v for k, v in _MALLOC.items())):
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **_MALLOC})

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from cnnkit import data, train  # noqa: E402
from cnnkit.models import LeNet5  # noqa: E402
from cnnkit.seeding import seed_everything  # noqa: E402


def torchvision_root(folder: Path) -> Path:
    """Put Debian's Fashion-MNIST where ``datasets.FashionMNIST(root)`` looks for it.

    torchvision checks that ``root/FashionMNIST/raw/<name>`` exists for the four uncompressed
    IDX files (it only verifies MD5 checksums when it downloads), then parses them itself.
    """
    raw = folder / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        with gzip.open(data.DEBIAN_FASHION_MNIST_DIR / f"{stem}.gz", "rb") as src, \
                open(raw / stem, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return folder


def macs_per_sample(model: torch.nn.Module, shape: tuple[int, ...]) -> float:
    """Multiply-accumulates of one forward pass per sample (FlopCounterMode's FLOPs / 2)."""
    x = torch.zeros(64, *shape)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() / 2 / 64


def matmul_macs_per_second(n: int = 1024, seconds: float = 0.5, rounds: int = 5) -> float:
    """Best measured float32 matmul throughput (MAC/s) of an n x n x n product."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    torch.mm(a, b, out=out)
    best = float("inf")
    for _ in range(rounds):
        calls, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            torch.mm(a, b, out=out)
            calls += 1
        best = min(best, elapsed / calls)
    return n**3 / best


class SameOrder(torch.utils.data.Sampler):
    """What ``shuffle=True`` does (a random permutation per epoch), drawn exactly as
    :class:`cnnkit.data.TensorLoader` draws it: ``torch.randperm(n)`` from a generator seeded
    with ``seed``, once per epoch. (``RandomSampler`` with a seeded generator draws a second,
    empty permutation per epoch, so its orders drift apart from the second epoch on.)"""

    def __init__(self, n: int, seed: int):
        self.n, self.generator = n, torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        return iter(torch.randperm(self.n, generator=self.generator).tolist())


def training_steps(model, loader, optimizer, channels_last: bool = False):
    """One training step per ``next()``, epoch after epoch: the loop every tutorial writes."""
    model.train()
    while True:
        for x, y in loader:
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            yield


class Interleaved:
    """The tensor-resident loader as ``fit`` sees it, with the other paths run in between.

    ``fit`` trains on a batch before it asks for the next one, so the time between two chunk
    marks is ``every`` batches of loading and training. At each mark the other paths each take
    ``every`` steps (timed) and a matmul probe measures the throughput of the moment.
    """

    def __init__(self, loader, others: dict, every: int = 20):
        self.loader, self.others, self.every = loader, others, every
        self.seconds = {"tensor": [], **{name: [] for name in others}}  # per chunk
        self.steps = dict.fromkeys(others, 0)
        self.matmul: list[float] = []  # MAC/s per chunk
        n = 1024
        self._a, self._b, self._out = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)

    def __len__(self) -> int:
        return len(self.loader)

    def run_others(self, steps: int) -> None:
        for name, it in self.others.items():
            start = time.perf_counter()
            for _ in range(steps):
                next(it)
            self.seconds[name].append(time.perf_counter() - start)
            self.steps[name] += steps

    def __iter__(self):
        last = time.perf_counter()
        for i, batch in enumerate(self.loader, 1):
            yield batch
            if i % self.every == 0:
                self.seconds["tensor"].append(time.perf_counter() - last)
                self.run_others(self.every)
                start = time.perf_counter()
                torch.mm(self._a, self._b, out=self._out)
                self.matmul.append(1024**3 / (time.perf_counter() - start))
                last = time.perf_counter()


def accuracy(model, loader) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((model(x).argmax(1) == y).sum())
            total += len(y)
    return correct / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first N training images (quick runs)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: the CPUs this process may use)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tuned-malloc", action="store_true",
                        help="raise glibc's mmap/trim thresholds (re-executes the process)")
    args = parser.parse_args()

    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    peak = matmul_macs_per_second()
    train_set = data.load_fashion_mnist(split="train", source="debian", verbose=False)
    test_set = data.load_fashion_mnist(split="test", source="debian", verbose=False)
    mean, std = train_set.mean(), train_set.std()
    if args.limit:
        train_set = data.ImageDataset(train_set.images[:args.limit], train_set.labels[:args.limit],
                                      train_set.classes, train_set.source, train_set.name)
    n = len(train_set)
    print(f"Fashion-MNIST: {n:,} training / {len(test_set):,} test images from "
          f"{train_set.source}")
    print(f"torch {torch.__version__}, {threads} thread(s), batch size {args.batch_size}, "
          f"Adam lr 1e-3, {args.epochs} epoch(s), model LeNet5 (modern), glibc malloc "
          f"{'tuned' if args.tuned_malloc else 'as by default'}")

    seed_everything(args.seed)
    init = {k: v.clone() for k, v in LeNet5().state_dict().items()}

    def model():
        m = LeNet5()
        m.load_state_dict(init)
        return m

    def tensor_loader(dataset, **kwargs):
        return data.TensorLoader(dataset, mean=mean, std=std, **kwargs)

    tmp = Path(tempfile.mkdtemp(prefix="cnnkit-bench-"))
    try:
        root = torchvision_root(tmp)
        tfm = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
        tv_train = datasets.FashionMNIST(root, train=True, transform=tfm)
        tv_test = datasets.FashionMNIST(root, train=False, transform=tfm)
        if args.limit:
            tv_train = Subset(tv_train, range(args.limit))
        book_model, nchw_model, fast_model = model(), model(), model()
        book_opt = torch.optim.Adam(book_model.parameters(), lr=1e-3)
        nchw_opt = torch.optim.Adam(nchw_model.parameters(), lr=1e-3, fused=True)  # as fit's
        book = DataLoader(tv_train, batch_size=args.batch_size,  # shuffle=True, in SameOrder
                          sampler=SameOrder(len(tv_train), args.seed))
        nchw = tensor_loader(train_set, batch_size=args.batch_size, shuffle=True, seed=args.seed)
        fast = Interleaved(
            tensor_loader(train_set, batch_size=args.batch_size, shuffle=True, seed=args.seed),
            {"textbook": training_steps(book_model, book, book_opt),
             "nchw": training_steps(nchw_model, nchw, nchw_opt)},
        )
        start = time.perf_counter()
        train.fit(fast_model, fast, epochs=args.epochs, optimizer="adam", lr=1e-3,
                  progress=False, channels_last=True)
        total = args.epochs * len(fast)
        fast.run_others(total - fast.steps["textbook"])  # the batches after the last mark
        wall = time.perf_counter() - start
        book_acc = accuracy(book_model, DataLoader(tv_test, batch_size=1000))
        test_loader = tensor_loader(test_set, batch_size=1000)
        fast_acc = train.evaluate(fast_model, test_loader).accuracy
        nchw_acc = train.evaluate(nchw_model, test_loader).accuracy
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    macs = macs_per_sample(LeNet5(), (1, 28, 28))
    peak = max(peak, matmul_macs_per_second())
    floor = 3 * macs * n / peak  # seconds per epoch at the best throughput measured
    marks = len(fast.matmul)
    chunks = {k: v[:marks] for k, v in fast.seconds.items()}  # the chunks run side by side
    epoch = {k: sum(v) / len(v) * len(fast) / fast.every for k, v in chunks.items()}
    per_batch_floor = [3 * macs * args.batch_size / m for m in fast.matmul]
    speedup = statistics.median(b / t for b, t in zip(chunks["textbook"], chunks["tensor"],
                                                      strict=True))
    layout = statistics.median(c / t for c, t in zip(chunks["nchw"], chunks["tensor"],
                                                     strict=True))
    over_floor = statistics.median(t / fast.every / f for t, f in zip(chunks["tensor"],
                                                                       per_batch_floor,
                                                                       strict=True))
    diff = 100 * (fast_acc - book_acc)
    print(f"{marks} chunks of {fast.every} batches per path, run side by side; {wall:.0f} s in all")
    print()
    print(f"MACs per image (forward): {macs:,.0f}; per epoch x 3: {3 * macs * n / 1e9:.1f} GMAC")
    print(f"matmul throughput (1024^3, float32, {threads} thread(s)): best {peak / 1e9:.1f} "
          f"GMAC/s (floor {floor:.2f} s per epoch), median during the run "
          f"{statistics.median(fast.matmul) / 1e9:.1f} GMAC/s")
    print(f"epoch time (the chunks' total, scaled to {len(fast)} batches): textbook "
          f"{epoch['textbook']:.2f} s, tensor-resident {epoch['tensor']:.2f} s, "
          f"tensor-resident NCHW {epoch['nchw']:.2f} s")
    print(f"test accuracy after {args.epochs} epoch(s): textbook {100 * book_acc:.2f}%, "
          f"tensor-resident {100 * fast_acc:.2f}% (difference {diff:+.2f} points), "
          f"NCHW {100 * nchw_acc:.2f}%")
    print(f"breakdown: data path (textbook / tensor-resident NCHW) "
          f"{speedup / layout:.2f}x, memory format (NCHW / channels_last) {layout:.2f}x")
    print()
    print("ratios (median of the per-chunk ratios; of the epoch times in brackets):")
    print(f"textbook / tensor-resident epoch time: {speedup:.2f}x "
          f"({epoch['textbook'] / epoch['tensor']:.2f}x)  target >= 2: "
          f"{'ok' if speedup >= 2 else 'MISSED'}")
    print(f"tensor-resident / arithmetic floor:    {over_floor:.2f}x "
          f"({epoch['tensor'] / floor:.2f}x at the best throughput)  target <= 4: "
          f"{'ok' if over_floor <= 4 else 'MISSED'}")
    print(f"accuracy difference:                   {diff:+.2f} points  target within 0.5: "
          f"{'ok' if abs(diff) <= 0.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
