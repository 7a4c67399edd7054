#!/usr/bin/python3
"""PyTorch side of `inkwell bench models`: the reference study's 3D ResNets (kenshohara's models/resnet.py layout with the
reference study's max pool (1,3,3)/(1,2,2), global max pool, InstanceNorm3d input and fc to 512) built here as twins of
src/models/resnet3d.ts, timed forward+backward on request so that TS and PyTorch runs interleave in one session.

Usage: models_bench_server.py THREADS CONFIG_JSON
  (CONFIG_JSON: {"input": [N,C,D,H,W], "widen": f, "cases": [...], "device": "cpu"|"cuda[:N]", "amp": "bf16"|"fp16"|"off"};
   on a GPU each timed run ends with torch.cuda.synchronize(); amp runs the forward and loss under torch.autocast,
   with a GradScaler for fp16 in the VICReg step)
Protocol (JSON lines): stdin {"case": NAME, "reps": K} -> stdout {"ms": [t1, ..., tK]}; {"quit": true} ends.
The first line printed is {"ready": true, "threads": N, "torch": VERSION}. Case names: r3d18, r3d50, with a
"_cl3d" suffix for channels_last_3d weights and input; "vicreg_r3d18": one VICReg step as `inkwell bench pretrain`
times it (two views of CONFIG input, projector 512-256-256-512, coefficients 25/25/5, SGD nesterov)."""
import json
import sys
import time

import torch
from torch import nn
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads()
config = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
torch.set_num_threads(threads)
DEVICE = torch.device(config.get("device", "cpu"))
AMP = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.get("amp", "off"))


def autocast():
    return torch.autocast(DEVICE.type, dtype=AMP, enabled=AMP is not None)


def sync():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)

LAYERS = {18: ("basic", [2, 2, 2, 2]), 50: ("bottleneck", [3, 4, 6, 3])}


class Block(nn.Module):
    def __init__(self, kind, cin, planes, stride):
        super().__init__()
        self.kind = kind
        exp = 4 if kind == "bottleneck" else 1
        cout = planes * exp
        if kind == "basic":
            self.conv1 = nn.Conv3d(cin, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm3d(planes)
            self.conv2 = nn.Conv3d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm3d(planes)
        else:
            self.conv1 = nn.Conv3d(cin, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm3d(planes)
            self.conv2 = nn.Conv3d(planes, planes, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm3d(planes)
            self.conv3 = nn.Conv3d(planes, cout, 1, bias=False)
            self.bn3 = nn.BatchNorm3d(cout)
        self.downsample = nn.Sequential(nn.Conv3d(cin, cout, 1, stride, bias=False), nn.BatchNorm3d(cout)) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        if self.kind == "basic":
            y = self.bn2(self.conv2(y))
        else:
            y = self.bn3(self.conv3(F.relu(self.bn2(self.conv2(y)))))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ReferenceResNet(nn.Module):
    def __init__(self, depth, widen=1.0, num_classes=512):
        super().__init__()
        kind, layers = LAYERS[depth]
        exp = 4 if kind == "bottleneck" else 1
        planes = [int(p * widen) for p in (64, 128, 256, 512)]
        self.conv1 = nn.Conv3d(1, planes[0], (7, 7, 7), (1, 2, 2), (3, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(planes[0])
        cin = planes[0]
        for i, (p, n) in enumerate(zip(planes, layers)):
            blocks = []
            for b in range(n):
                blocks.append(Block(kind, cin, p, 2 if (i > 0 and b == 0) else 1))
                cin = p * exp
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(F.instance_norm(x))))
        x = F.max_pool3d(x, (1, 3, 3), (1, 2, 2), (0, 1, 1))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(F.adaptive_max_pool3d(x, 1).flatten(1))


def vicreg_loss(z1, z2, sim=25.0, std=25.0, cov=5.0):
    """facebookresearch/vicreg main_vicreg.py VICReg.forward (single process)."""
    n, d = z1.shape
    inv = F.mse_loss(z1, z2)
    z1 = z1 - z1.mean(dim=0)
    z2 = z2 - z2.mean(dim=0)
    s1 = torch.sqrt(z1.var(dim=0) + 0.0001)
    s2 = torch.sqrt(z2.var(dim=0) + 0.0001)
    var = torch.mean(F.relu(1 - s1)) / 2 + torch.mean(F.relu(1 - s2)) / 2
    c1 = (z1.T @ z1) / (n - 1)
    c2 = (z2.T @ z2) / (n - 1)
    off = lambda c: c.flatten()[:-1].view(d - 1, d + 1)[:, 1:].flatten()
    covl = off(c1).pow_(2).sum().div(d) + off(c2).pow_(2).sum().div(d)
    return sim * inv + std * var + cov * covl


def make_vicreg_case(name):
    torch.manual_seed(0)
    encoder = ReferenceResNet(int(name[-2:]), config.get("widen", 1.0)).train().to(DEVICE)
    # lightly's BarlowTwinsProjectionHead(512, 256, 512), the reference study's projector: Linear-BN-ReLU x2, Linear.
    projector = nn.Sequential(nn.Linear(512, 256, bias=False), nn.BatchNorm1d(256), nn.ReLU(),
                              nn.Linear(256, 256, bias=False), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 512)).to(DEVICE)
    params = list(encoder.parameters()) + list(projector.parameters())
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-5)
    shape = config.get("input", [8, 1, 20, 64, 64])
    v1, v2 = torch.randn(*shape).to(DEVICE), torch.randn(*shape).to(DEVICE)
    scaler = torch.cuda.amp.GradScaler(enabled=AMP == torch.float16)

    def step():
        with autocast():
            loss = vicreg_loss(projector(encoder(v1)), projector(encoder(v2)))
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        sync()
    return step


def make_case(name):
    if name.startswith("vicreg_"):
        return make_vicreg_case(name)
    torch.manual_seed(0)
    depth = int(name[3:5])
    model = ReferenceResNet(depth, config.get("widen", 1.0)).train().to(DEVICE)
    x = torch.randn(*config.get("input", [2, 1, 20, 128, 128])).to(DEVICE)
    if name.endswith("_cl3d"):
        model = model.to(memory_format=torch.channels_last_3d)
        x = x.contiguous(memory_format=torch.channels_last_3d)

    def step():
        model.zero_grad(set_to_none=True)
        with autocast():
            out = model(x)
        out.float().mean().backward()
        sync()
    return step


CASES = {}
print(json.dumps({"ready": True, "threads": torch.get_num_threads(), "torch": torch.__version__}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    if req.get("quit"):
        break
    name = req["case"]
    if name not in CASES:
        CASES.clear()  # one model alive at a time: the r3d50 activations alone take gigabytes
        CASES[name] = make_case(name)
    fn = CASES[name]
    times = []
    for _ in range(int(req["reps"])):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({"ms": times}), flush=True)
