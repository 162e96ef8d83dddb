"""The docs/spec.md §3 network in PyTorch: the independent reference for attsr.

Module and tensor names are exactly attsr's (docs/spec.md §3), so a state_dict moves
between the two by name. Used by the fixture scripts in tools/ and by bench/. Beside
the paper's four attention kinds (docs/spec.md §3), the two of docs/protocol.md ("Attention beyond the
paper"): ca+sa4 (CASA4) and ca-avgmax (CAAvgMax).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class CA(nn.Module):
    def __init__(self, C, r, slope):
        super().__init__()
        R = max(1, C // r)
        self.fc1, self.fc2, self.slope = nn.Linear(C, R), nn.Linear(R, C), slope

    def forward(self, x):
        g = x.mean(dim=(2, 3))
        g = torch.sigmoid(self.fc2(F.leaky_relu(self.fc1(g), self.slope)))
        return x * g[:, :, None, None]


class CAAvgMax(nn.Module):
    """CBAM's channel module: CA's MLP on the mean and on the max of each channel, the
    logits summed. adaptive_max_pool2d's backward sends the gradient to the first
    maximum in raster order, as attsr does (amax would share it among ties)."""

    def __init__(self, C, r, slope):
        super().__init__()
        R = max(1, C // r)
        self.fc1, self.fc2, self.slope = nn.Linear(C, R), nn.Linear(R, C), slope

    def mlp(self, v):
        return self.fc2(F.leaky_relu(self.fc1(v), self.slope))

    def forward(self, x):
        z = self.mlp(x.mean(dim=(2, 3))) + self.mlp(F.adaptive_max_pool2d(x, 1).flatten(1))
        return x * torch.sigmoid(z)[:, :, None, None]


class SA1(nn.Module):
    def __init__(self, C, slope):
        super().__init__()
        self.conv = nn.Conv2d(C, 1, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.conv(x))


class SA4(nn.Module):
    def __init__(self, C, slope):
        super().__init__()
        self.conv1 = nn.Conv2d(C, 32, 7, padding=3)
        self.conv2 = nn.Conv2d(32, 16, 5, padding=2)
        self.conv3 = nn.Conv2d(16, 8, 3, padding=1)
        self.conv4 = nn.Conv2d(8, 1, 1)
        self.slope = slope

    def forward(self, x):
        a = F.leaky_relu(self.conv1(x), self.slope)
        a = F.leaky_relu(self.conv2(a), self.slope)
        a = F.leaky_relu(self.conv3(a), self.slope)
        return x * torch.sigmoid(self.conv4(a))


class CASA4(nn.Module):
    """Channel, then spatial attention (CBAM's order): SA4 on CA's output."""

    def __init__(self, C, r, slope):
        super().__init__()
        self.ca, self.sa = CA(C, r, slope), SA4(C, slope)

    def forward(self, x):
        return self.sa(self.ca(x))


def conv3(cin, cout):
    return nn.Conv2d(cin, cout, 3, padding=1)


class RB(nn.Module):
    def __init__(self, C, att, r, slope):
        super().__init__()
        self.conv1, self.conv2, self.slope = conv3(C, C), conv3(C, C), slope
        self.att = {"none": lambda: None, "ca": lambda: CA(C, r, slope),
                    "sa1": lambda: SA1(C, slope), "sa4": lambda: SA4(C, slope),
                    "ca+sa4": lambda: CASA4(C, r, slope),
                    "ca-avgmax": lambda: CAAvgMax(C, r, slope)}[att]()

    def forward(self, x):
        y = self.conv2(F.leaky_relu(self.conv1(x), self.slope))
        return x + (self.att(y) if self.att is not None else y)


class RG(nn.Module):
    def __init__(self, C, blocks, att, r, slope):
        super().__init__()
        self.blocks = nn.ModuleList([RB(C, att, r, slope) for _ in range(blocks)])
        self.tail = conv3(C, C)

    def forward(self, x):
        y = x
        for b in self.blocks:
            y = b(y)
        return self.tail(y) + x


class FE(nn.Module):
    def __init__(self, C, groups, blocks, att, r, slope):
        super().__init__()
        self.head = conv3(3, C)
        self.groups = nn.ModuleList([RG(C, blocks, att, r, slope) for _ in range(groups)])
        self.tail = conv3(C, C)

    def forward(self, x):
        x0 = self.head(x)
        y = x0
        for g in self.groups:
            y = g(y)
        return self.tail(y) + x0


class Branch(nn.Module):
    def __init__(self, scale, C, groups, blocks, att, r, slope):
        super().__init__()
        self.groups = nn.ModuleList([RG(C, blocks, att, r, slope) for _ in range(groups)])
        self.tail = conv3(C, C)
        stages = [2, 2] if scale == 4 else [scale]
        self.up = nn.ModuleList([conv3(C, s * s * C) for s in stages])
        self.stages = stages
        self.out = conv3(C, 3)

    def forward(self, f):
        y = f
        for g in self.groups:
            y = g(y)
        y = self.tail(y) + f
        for conv, s in zip(self.up, self.stages):
            y = F.pixel_shuffle(conv(y), s)
        return self.out(y)


class AttSR(nn.Module):
    def __init__(self, scale=2, feats=64, fe_groups=1, groups=3, blocks=20, attention="none",
                 ca_reduction=16, leaky_slope=0.2):
        super().__init__()
        args = (blocks, attention, ca_reduction, leaky_slope)
        self.fe = FE(feats, fe_groups, *args)
        self.structure = Branch(scale, feats, groups, *args)
        self.texture = Branch(scale, feats, groups, *args)
        self.config = dict(scale=scale, feats=feats, fe_groups=fe_groups, groups=groups,
                           blocks=blocks, attention=attention, ca_reduction=ca_reduction,
                           leaky_slope=leaky_slope)

    def forward(self, x):
        f = self.fe(x)
        s, t = self.structure(f), self.texture(f)
        return s + t, s, t

    def metadata(self):
        m = {k: str(v) for k, v in self.config.items()}
        m["format"] = "attsr"
        return m
