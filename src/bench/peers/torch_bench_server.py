#!/usr/bin/python3
"""PyTorch side of inkwell's side-by-side benchmarks: builds the same cases as src/bench/*.ts and times them
on request, so that TS and PyTorch runs interleave in one session on a noisy machine.

Protocol (JSON lines): stdin {"case": NAME, "reps": K} -> stdout {"ms": [t1, ..., tK]}; {"quit": true} ends.
The first line printed is {"ready": true, "threads": N, "torch": VERSION}."""
import json
import sys
import time

import torch
from torch import nn
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads()
torch.set_num_threads(threads)
torch.manual_seed(0)


class Bottleneck(nn.Module):
    """kenshohara's 3D ResNet Bottleneck (expansion 4) with a 1x1x1 conv + BN shortcut."""

    def __init__(self, inplanes, planes):
        super().__init__()
        self.conv1 = nn.Conv3d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = nn.Conv3d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * 4)
        self.downsample = nn.Sequential(nn.Conv3d(inplanes, planes * 4, 1, bias=False), nn.BatchNorm3d(planes * 4))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.downsample(x))


def make_cases():
    cases = {}
    block = Bottleneck(64, 64)
    xb = torch.randn(2, 64, 8, 32, 32, requires_grad=True)

    def bottleneck():
        block(xb).mean().backward()
    cases["bottleneck"] = bottleneck

    stem = nn.Conv3d(1, 64, 7, stride=(1, 2, 2), padding=3, bias=False)
    xs = torch.randn(2, 1, 16, 128, 128)

    def stem_conv():
        stem(xs).mean().backward()
    cases["stem_conv"] = stem_conv

    lin = nn.Linear(2048, 8192)
    xl = torch.randn(256, 2048)

    def linear():
        lin(xl).mean().backward()
    cases["linear"] = linear
    return cases


CASES = make_cases()
print(json.dumps({"ready": True, "threads": torch.get_num_threads(), "torch": torch.__version__}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    if req.get("quit"):
        break
    fn = CASES[req["case"]]
    times = []
    for _ in range(int(req["reps"])):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({"ms": times}), flush=True)
