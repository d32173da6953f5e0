"""Batches from the decoded split cache (uint8 NHWC arrays, manifest row order).

A dataset is indexed with a whole batch of indices at once (one numpy gather per batch instead of
one Python call per image). Augmentation (training set only) runs per image with
``torchvision.transforms.v2`` on uint8 tensors, so each image gets its own random flips, rotation,
zoom, warp, brightness and contrast. Scaling to 0..1 and the ImageNet normalisation run on the device, per batch.
On CUDA the decoded split itself lives on the device and whole batches are augmented there
(:class:`DeviceBatches`, :class:`BatchAugment`: the same distribution of transforms), since
per-image CPU work cannot feed a GPU that trains thousands of images a second.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler
from torchvision.transforms import v2

from dlcompare.kit.weights import IMAGENET_MEAN, IMAGENET_STD


class ArrayBatches(Dataset):
    """``dataset[list_of_indices]`` -> (uint8 images B x 3 x S x S, int64 labels B)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform=None):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, indices):
        idx = np.asarray(indices)
        images = torch.from_numpy(np.ascontiguousarray(self.images[idx])).permute(0, 3, 1, 2)
        if self.transform is not None:
            images = torch.stack([self.transform(image) for image in images])
        return images, torch.from_numpy(np.asarray(self.labels[idx], dtype=np.int64))


P_AFFINE = 0.75     # fastai aug_transforms: the chance each image gets the geometric change
P_LIGHTING = 0.75   # ... and the lighting change


class RandomDihedral(torch.nn.Module):
    """fastai's Dihedral (what ``flip_vert=True`` selects): with probability ``p`` one of the 8
    symmetries of the square, drawn uniformly (the identity among them)."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = p

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if torch.rand(()) >= self.p:
            return image
        k = int(torch.randint(8, ()))
        if k >= 4:
            image = image.transpose(-1, -2)
        return torch.rot90(image, k % 4, dims=(-2, -1))


def augmentation(cfg: dict):
    """The training-set transforms from the ``augment`` section (None when all are off).

    fastai's aug_transforms rebuilt from torchvision.transforms.v2: flips, each with probability
    1/2, or fastai's ``dihedral`` (with probability 1/2 one of the 8 symmetries), rotation up to ``rotation`` degrees and zoom in up to ``zoom``
    (1 = none) in one bilinear affine warp, a perspective ``warp`` (corners moved up to
    ``warp``/2 of the side, as fastai's max_warp), and brightness and contrast factors within
    1 +- ``brightness`` / ``contrast``. The geometric and lighting changes each happen with
    fastai's probability 0.75. Differences: the corners a warp uncovers are black (fastai pads by
    reflection) and lighting scales pixels (fastai works in logit space).
    """
    steps = []
    if cfg.get("flip_horizontal"):
        steps.append(v2.RandomHorizontalFlip())
    if cfg.get("flip_vertical"):
        steps.append(v2.RandomVerticalFlip())
    if cfg.get("dihedral"):
        steps.append(RandomDihedral())
    rotation, zoom = float(cfg.get("rotation", 0)), float(cfg.get("zoom", 1))
    if rotation > 0 or zoom > 1:
        steps.append(v2.RandomApply([v2.RandomAffine(degrees=rotation, scale=(1.0, zoom),
                                                     interpolation=v2.InterpolationMode.BILINEAR)], p=P_AFFINE))
    if cfg.get("warp", 0) > 0:
        steps.append(v2.RandomPerspective(distortion_scale=float(cfg["warp"]), p=P_AFFINE))
    lighting = {key: float(cfg[key]) for key in ("brightness", "contrast") if cfg.get(key, 0) > 0}
    if lighting:
        steps.append(v2.RandomApply([v2.ColorJitter(**lighting)], p=P_LIGHTING))
    return v2.Compose(steps) if steps else None


class BatchAugment:
    """The same distribution of transforms as :func:`augmentation`, drawn per image but applied
    to a whole batch at once on its device (the CUDA path: no per-image Python, no CPU work).

    The dihedral symmetry, the affine change (rotation, zoom in) and the perspective warp are
    composed into one 3x3 map per image and sampled once (``grid_sample``, bilinear, uncovered
    areas black; the per-image path resamples after each step); lighting applies the brightness
    and contrast factors in a random order per image, as ColorJitter does. Input: uint8 or float
    0..255 batches (B x 3 x H x W); output: float32 0..255.
    """

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.flip_h, self.flip_v, self.dihedral = (bool(cfg.get(k)) for k in ("flip_horizontal", "flip_vertical", "dihedral"))
        self.rotation, self.zoom = float(cfg.get("rotation", 0)), float(cfg.get("zoom", 1))
        self.warp = float(cfg.get("warp", 0))
        self.brightness, self.contrast = float(cfg.get("brightness", 0)), float(cfg.get("contrast", 0))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float()
        n, _, h, w = x.shape
        stages = self.geometry(n, h, w, x.device)
        if stages:
            x = warp(x, stages)
        if self.brightness > 0 or self.contrast > 0:
            x = self.lighting(x)
        return x

    def geometry(self, n: int, h: int, w: int, device) -> list[torch.Tensor]:
        """Per image, the 3x3 maps from output to input pixel coordinates of each step, in the
        order a pixel's position is looked up: perspective, affine, symmetry (the reverse of the
        order the per-image pipeline applies them)."""
        eye = torch.eye(3, device=device).expand(n, 3, 3)
        centre = centring(h, w, device)
        stages = []
        if self.warp > 0:
            apply = (torch.rand(n, device=device) < P_AFFINE).view(n, 1, 1)
            stages.append(torch.where(apply, perspective_lookup(n, h, w, self.warp, device), eye))
        if self.rotation > 0 or self.zoom > 1:
            angle = torch.deg2rad((torch.rand(n, device=device) * 2 - 1) * self.rotation)
            scale = 1 + torch.rand(n, device=device) * (self.zoom - 1)
            cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
            rot = eye.clone()
            rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = cos, -sin, sin, cos
            apply = (torch.rand(n, device=device) < P_AFFINE).view(n, 1, 1)
            stages.append(torch.where(apply, centre @ rot @ torch.linalg.inv(centre), eye))
        if self.flip_h or self.flip_v or self.dihedral:
            stages.append(centre @ self.symmetries(n, device) @ torch.linalg.inv(centre))
        return stages

    def symmetries(self, n: int, device) -> torch.Tensor:
        """Flips (each with probability 1/2), or with probability 1/2 one of the 8 symmetries."""
        sym = torch.eye(3, device=device).repeat(n, 1, 1)
        if self.flip_h:
            sym[:, 0, 0] = torch.where(torch.rand(n, device=device) < 0.5, -1.0, 1.0)
        if self.flip_v:
            sym[:, 1, 1] = torch.where(torch.rand(n, device=device) < 0.5, -1.0, 1.0)
        if self.dihedral:
            group = dihedral_group(device)
            k = torch.randint(8, (n,), device=device)
            k = torch.where(torch.rand(n, device=device) < 0.5, k, 0)   # 0: the identity
            sym = sym @ group[k]
        return sym

    def lighting(self, x: torch.Tensor) -> torch.Tensor:
        n, device = len(x), x.device
        def factor(spread):
            return (1 - spread + torch.rand(n, device=device) * 2 * spread).clamp_min(0).view(n, 1, 1, 1)
        apply = (torch.rand(n, device=device) < P_LIGHTING).view(n, 1, 1, 1)
        b = torch.where(apply, factor(self.brightness), 1.0) if self.brightness > 0 else None
        c = torch.where(apply, factor(self.contrast), 1.0) if self.contrast > 0 else None
        brightness_first = (torch.rand(n, device=device) < 0.5).view(n, 1, 1, 1)

        def bright(y):
            return y if b is None else (y * b).clamp(0, 255)

        def contrast(y):
            if c is None:
                return y
            gray = (0.2989 * y[:, 0] + 0.587 * y[:, 1] + 0.114 * y[:, 2]).mean(dim=(1, 2)).view(n, 1, 1, 1)
            return (c * y + (1 - c) * gray).clamp(0, 255)
        return torch.where(brightness_first, contrast(bright(x)), bright(contrast(x)))


def centring(h: int, w: int, device) -> torch.Tensor:
    """Pixel coordinates (centres at 0..w-1, 0..h-1) from coordinates about the image centre."""
    m = torch.eye(3, device=device)
    m[0, 2], m[1, 2] = (w - 1) / 2, (h - 1) / 2
    return m


def dihedral_group(device) -> torch.Tensor:
    """The 8 symmetries of the square about its centre (index 0: the identity)."""
    mats = []
    for transpose in (False, True):
        for k in range(4):
            c, s = [(1, 0), (0, 1), (-1, 0), (0, -1)][k]
            m = torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=torch.float32)
            if transpose:
                m = m @ torch.tensor([[0.0, 1, 0], [1, 0, 0], [0, 0, 1]])
            mats.append(m)
    return torch.stack(mats).to(device)


def perspective_lookup(n: int, h: int, w: int, distortion: float, device) -> torch.Tensor:
    """torchvision's RandomPerspective, batched: each corner moves inwards by up to
    ``distortion`` of half the side (integers, as torchvision draws them); the map sends each
    output pixel to the input pixel it shows (a homography from the moved to the original corners)."""
    bound_w, bound_h = int(distortion * (w // 2)) + 1, int(distortion * (h // 2)) + 1
    dx = torch.randint(bound_w, (n, 4), device=device).float()
    dy = torch.randint(bound_h, (n, 4), device=device).float()
    start = torch.tensor([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=torch.float32, device=device)
    sign = torch.tensor([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=torch.float32, device=device)
    end = start + sign * torch.stack([dx, dy], dim=-1)
    return homography(end, start.expand(n, 4, 2))


def homography(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """The 3x3 maps sending the 4 points ``src`` (n x 4 x 2) to ``dst``, solved in one batch."""
    n = len(src)
    x, y, u, v = src[..., 0], src[..., 1], dst[..., 0], dst[..., 1]
    zero, one = torch.zeros_like(x), torch.ones_like(x)
    rows_u = torch.stack([x, y, one, zero, zero, zero, -u * x, -u * y], dim=-1)
    rows_v = torch.stack([zero, zero, zero, x, y, one, -v * x, -v * y], dim=-1)
    a = torch.cat([rows_u, rows_v], dim=1)
    b = torch.cat([u, v], dim=1).unsqueeze(-1)
    coeffs = torch.linalg.solve(a.double(), b.double()).squeeze(-1).float()
    return torch.cat([coeffs, torch.ones(n, 1, device=src.device)], dim=1).view(n, 3, 3)


def warp(x: torch.Tensor, stages: list[torch.Tensor]) -> torch.Tensor:
    """Sample ``x`` (n x c x h x w) once, bilinear, where the chain of ``stages`` sends each
    output pixel; black where any step looks outside the image (as the per-image pipeline,
    whose every step fills what it uncovers with black)."""
    n, _, h, w = x.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=x.device, dtype=torch.float32),
                            torch.arange(w, device=x.device, dtype=torch.float32), indexing="ij")
    xy = torch.stack([xs, ys], dim=-1).view(1, h * w, 2).expand(n, h * w, 2)
    inside = torch.ones(n, h * w, dtype=torch.bool, device=x.device)
    for m in stages:
        mapped = torch.cat([xy, torch.ones_like(xy[..., :1])], dim=-1) @ m.transpose(1, 2)
        xy = mapped[..., :2] / mapped[..., 2:3]
        inside &= (xy[..., 0] > -0.5) & (xy[..., 0] < w - 0.5) & (xy[..., 1] > -0.5) & (xy[..., 1] < h - 0.5)
    grid = torch.stack([xy[..., 0] * 2 / (w - 1) - 1, xy[..., 1] * 2 / (h - 1) - 1], dim=-1).view(n, h, w, 2)
    out = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out * inside.view(n, 1, h, w)


class DeviceBatches:
    """A split kept on the device as uint8 (B x 3 x S x S), batched there: shuffled with the
    loader's own generator and augmented a whole batch at a time (:class:`BatchAugment`) for
    training, in row order for evaluation. Stands in for the DataLoader on CUDA (same
    ``dataset.labels``, ``generator``, ``len`` and iteration), so nothing per image runs on the CPU."""

    def __init__(self, images, labels, batch_size: int, train: bool, seed: int, augment: dict | None, device):
        self.dataset = ArrayBatches(images, labels)
        self.images = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2)
        self.targets = torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(device)
        self.batch_size, self.train = batch_size, train
        self.drop_last = train and len(labels) > batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.augment = BatchAugment(augment) if train and augment else None

    def __len__(self) -> int:
        n, b = len(self.targets), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self):
        n = len(self.targets)
        order = torch.randperm(n, generator=self.generator) if self.train else torch.arange(n)
        order = order.to(self.images.device)
        for k in range(len(self)):
            idx = order[k * self.batch_size:(k + 1) * self.batch_size]
            x = self.images[idx]
            yield (self.augment(x) if self.augment else x), self.targets[idx]


def loader(images, labels, batch_size: int, train: bool, seed: int, transform=None,
           workers: int = 0, pin_memory: bool = False) -> DataLoader:
    """Shuffled, last partial batch dropped (as fastai) for training; in row order otherwise.

    The loader owns a generator seeded from ``seed`` (shuffling and worker seeds); checkpoints
    save its state (``loader.generator``) so a resumed run continues the same sequence.
    """
    dataset = ArrayBatches(images, labels, transform if train else None)
    generator = torch.Generator().manual_seed(seed)
    if train:
        sampler = BatchSampler(RandomSampler(dataset, generator=generator), batch_size,
                               drop_last=len(dataset) > batch_size)
    else:
        sampler = BatchSampler(SequentialSampler(dataset), batch_size, drop_last=False)
    return DataLoader(dataset, batch_size=None, sampler=sampler, num_workers=workers,
                      pin_memory=pin_memory, generator=generator, persistent_workers=workers > 0)


def run_loaders(run, augment: dict, device: torch.device):
    """The run's training loader and its ``valid``/``test`` loaders, over ``run.load`` (the cached
    split: every library's membership and row order). CPU: DataLoaders with ``run.workers``
    workers and per-image augmentation. CUDA: the splits on the device (:class:`DeviceBatches`)."""
    if device.type == "cuda":
        train_loader = DeviceBatches(*run.load("train"), run.batch_size, True, run.seed, augment, device)
        eval_loaders = {split: DeviceBatches(*run.load(split), run.batch_size, False, run.seed, None, device)
                        for split in ("valid", "test")}
        return train_loader, eval_loaders
    workers = getattr(run, "workers", 0)
    train_loader = loader(*run.load("train"), run.batch_size, True, run.seed, augmentation(augment), workers=workers)
    eval_loaders = {split: loader(*run.load(split), run.batch_size, False, run.seed, workers=workers)
                    for split in ("valid", "test")}
    return train_loader, eval_loaders


class Inputs:
    """Move a uint8 batch to the device and normalise it there (ImageNet statistics)."""

    def __init__(self, device: torch.device, channels_last: bool = False):
        self.device, self.channels_last = device, channels_last
        shape = (1, 3, 1, 1)
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).view(shape) * 255
        self.std = torch.tensor(IMAGENET_STD, device=device).view(shape) * 255

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        x = images.to(self.device, non_blocking=True).to(dtype=torch.float32, memory_format=fmt)
        return (x - self.mean) / self.std
