"""Drawing one synthetic chest radiograph and its pneumothorax instances (`render_case`): the anatomy.

SYNTHETIC DATA: drawn from simple geometry and noise; nothing here is a real patient or a real Kaggle image.

Anatomy (drawn at up to 512² and upsampled): torso soft tissue, two lung fields described in polar coordinates
about their centres, mediastinum and heart, spine and trachea, posterior and anterior ribs, clavicles, vessel
markings radiating from each hilum, noise and vignetting. A pneumothorax is a crescent between the lung's outer
boundary (apex/lateral/basal) and a visible visceral pleural line: darker and without lung markings. The mask is
exactly that crescent. Label statistics (positive rate, area, side, height, bbox, instance count) follow the SIIM
stage-2 training labels; `benchmarks/phantom_stats.py` checks them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

# SIIM-ACR stage-2 training labels (12,047 images), the figures the generator aims at. Areas at 1024².
SIIM_TARGETS: dict[str, float] = {
    "positive_rate": 0.22,
    "area_p5": 1363,
    "area_p25": 4059,
    "area_p50": 8630,
    "area_p75": 18388,
    "area_p95": 45772,
    "area_max": 161421,
    "left_half_fraction": 0.59,  # centroid on the image's left half (patient's right)
    "centroid_y_p10": 0.12,
    "centroid_y_p50": 0.22,
    "centroid_y_p90": 0.58,
    "bbox_height_p50": 0.17,
    "bbox_width_p50": 0.22,
    "multi_instance_fraction": 0.23,
}

_AREA_MEDIAN = 8630.0
_AREA_SIGMA = 1.12  # log-normal fitted to the SIIM quartiles
_AREA_MAX = 161421.0
_WORK_MAX = 512  # anatomy is drawn at most at this size, then upsampled

Seed = int | np.random.Generator | np.random.SeedSequence | None


@dataclass
class PhantomCase:
    """One rendered phantom: 8-bit image, one bool mask per pneumothorax instance, and header facts."""

    image: np.ndarray  # uint8 (size, size), MONOCHROME2
    instances: list[np.ndarray]  # bool (size, size) each, disjoint
    sex: str = "M"
    age: int = 50
    view: str = "PA"
    side: list[str] = field(default_factory=list)  # per instance: 'image-left' / 'image-right'

    @property
    def positive(self) -> bool:
        return bool(self.instances)

    @property
    def mask(self) -> np.ndarray:
        """Union of all instances."""
        out = np.zeros(self.image.shape, dtype=bool)
        for m in self.instances:
            out |= m
        return out



# ----------------------------------------------------------------------------------------------------------------
# Geometry helpers (normalised coordinates: u = column / size, v = row / size, both in [0, 1])


def _ramp(x: np.ndarray) -> np.ndarray:
    """Cheap sigmoid: 0 below -1, 1 above +1, linear between."""
    return np.clip(0.5 + 0.5 * x, 0.0, 1.0)


# Patient-right lung (image left), PA view. Apex → lateral wall → costophrenic angle → dome → medial border.
# fmt: off
_LUNG_LEFT = np.array(
    [
        (0.345, 0.116), (0.300, 0.119), (0.255, 0.135), (0.215, 0.175), (0.182, 0.240), (0.158, 0.330),
        (0.142, 0.500), (0.138, 0.600), (0.142, 0.690), (0.152, 0.775), (0.200, 0.745), (0.260, 0.705),
        (0.320, 0.685), (0.380, 0.690), (0.430, 0.705), (0.448, 0.630), (0.445, 0.530), (0.432, 0.430),
        (0.436, 0.330), (0.425, 0.230), (0.405, 0.160), (0.378, 0.125),
    ],
    dtype=np.float64,
)
# Patient-left lung (image right): heart border, aortic knob, a slightly lower hemidiaphragm.
_LUNG_RIGHT = np.array(
    [
        (0.655, 0.122), (0.700, 0.126), (0.745, 0.145), (0.785, 0.185), (0.818, 0.250), (0.842, 0.340),
        (0.858, 0.505), (0.862, 0.605), (0.858, 0.700), (0.848, 0.790), (0.800, 0.765), (0.740, 0.725),
        (0.680, 0.712), (0.640, 0.718), (0.628, 0.690), (0.610, 0.620), (0.588, 0.530), (0.580, 0.450),
        (0.592, 0.380), (0.600, 0.330), (0.578, 0.270), (0.585, 0.190), (0.612, 0.142),
    ],
    dtype=np.float64,
)
# fmt: on


@dataclass
class _Lung:
    side: int  # -1: image-left lung (lateral is -u), +1: image-right lung
    centre: tuple[float, float]  # (u, v)
    theta: np.ndarray  # sorted boundary angles (atan2(dv, du))
    radius: np.ndarray  # boundary radius at each angle
    bbox: tuple[float, float, float, float]  # u0, v0, u1, v1
    hilum: tuple[float, float]

    def r_boundary(self, theta: np.ndarray) -> np.ndarray:
        return np.interp(theta, self.theta, self.radius, period=2 * np.pi)

    def theta_of_phi(self, phi: np.ndarray) -> np.ndarray:
        """phi: 0 at the apex, pi/2 lateral, pi at the base (mirrored per side)."""
        return np.arctan2(-np.cos(phi), self.side * np.sin(phi))

    def polar(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(r, theta, phi) of points relative to the lung centre."""
        du = u - self.centre[0]
        dv = v - self.centre[1]
        r = np.sqrt(du * du + dv * dv)
        theta = np.arctan2(dv, du)
        phi = np.arctan2(self.side * du, -dv)
        return r, theta, phi


def _make_lung(points: np.ndarray, side: int, hilum: tuple[float, float]) -> _Lung:
    # Densify the closed polygon and smooth it circularly: soft corners, except a slightly sharp costophrenic angle.
    closed = np.vstack([points, points[:1]])
    seg = np.sqrt((np.diff(closed, axis=0) ** 2).sum(axis=1))
    s = np.concatenate([[0], np.cumsum(seg)])
    t = np.linspace(0, s[-1], 361)[:-1]
    pts = np.stack([np.interp(t, s, closed[:, 0]), np.interp(t, s, closed[:, 1])], axis=1)
    k = 7
    kernel = np.ones(k) / k
    padded = np.vstack([pts[-k:], pts, pts[:k]])
    pts = np.stack([np.convolve(padded[:, i], kernel, mode="same")[k:-k] for i in range(2)], axis=1)
    centre = (float(pts[:, 0].mean()), float(pts[:, 1].mean()) - 0.02)
    du = pts[:, 0] - centre[0]
    dv = pts[:, 1] - centre[1]
    theta = np.arctan2(dv, du)
    radius = np.sqrt(du * du + dv * dv)
    order = np.argsort(theta)
    bbox = (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))
    return _Lung(side, centre, theta[order], radius[order], bbox, hilum)


def _sample_lungs(rng: np.random.Generator, view: str) -> tuple[_Lung, _Lung, dict[str, float]]:
    scale = rng.uniform(0.94, 1.05)
    height = rng.uniform(0.90, 1.07)  # inspiration depth
    shift_u = rng.normal(0, 0.012)
    shift_v = rng.normal(-0.035, 0.012)  # SIIM films are framed tight: apices near the top
    heart = rng.uniform(0.0, 0.035) + (0.03 if view == "AP" else 0.0)
    apex_v = 0.118

    def place(pts: np.ndarray) -> np.ndarray:
        out = pts.copy()
        out[:, 0] = 0.5 + (out[:, 0] - 0.5) * scale * 1.06 + shift_u
        out[:, 1] = apex_v + (out[:, 1] - apex_v) * height * scale + shift_v
        return out + rng.normal(0, 0.004, out.shape)

    left = place(_LUNG_LEFT)
    right_pts = _LUNG_RIGHT.copy()
    # Patient-left lung: a bigger heart pushes the lower medial (cardiac) border outwards.
    cardiac = (right_pts[:, 1] > 0.45) & (right_pts[:, 0] < 0.66)
    right_pts[cardiac, 0] += heart * np.clip((right_pts[cardiac, 1] - 0.45) / 0.2, 0, 1)
    right = place(right_pts)
    lung_l = _make_lung(left, -1, (0.405 + shift_u, 0.43 + shift_v))
    lung_r = _make_lung(right, +1, (0.595 + shift_u, 0.41 + shift_v))
    return lung_l, lung_r, {"scale": scale, "height": height, "shift_u": shift_u, "shift_v": shift_v, "heart": heart}


# ----------------------------------------------------------------------------------------------------------------
# Pneumothorax instances


@dataclass
class _Sector:
    lung: int  # 0: image-left lung, 1: image-right lung
    phi0: float
    phi1: float
    amp: float = 1.0  # peak thickness relative to the lung's dmax (short arcs stay crescents, not wedges)


@dataclass
class _Pneumothorax:
    sectors: list[_Sector]
    dmax: dict[int, float]  # per lung: peak thickness (normalised units)
    darkening: float
    line: float


def _bump(phi: np.ndarray, sectors: Sequence[_Sector]) -> np.ndarray:
    out = np.zeros_like(phi)
    for sec in sectors:
        t = (phi - sec.phi0) / (sec.phi1 - sec.phi0)
        inside = (t > 0) & (t < 1)
        out[inside] = np.maximum(out[inside], sec.amp * np.sin(np.pi * t[inside]) ** 0.6)
    return out


def _solve_thickness(lung: _Lung, secs: Sequence[_Sector], area: float) -> float:
    """Peak thickness d so that the polar integral of the crescent, ∫ (r_b·d·b − (d·b)²/2) dφ, equals `area`."""
    phi = np.linspace(-0.9, 3.0, 780)
    b = _bump(phi, secs)
    rb = lung.r_boundary(lung.theta_of_phi(phi))
    dphi = phi[1] - phi[0]
    a1 = float((rb * b).sum() * dphi)
    a2 = float(0.5 * (b * b).sum() * dphi)
    if a2 <= 0:
        return 0.0
    disc = a1 * a1 - 4 * a2 * area
    d = (a1 - math.sqrt(disc)) / (2 * a2) if disc > 0 else a1 / (2 * a2)
    inside = b > 0.8
    return float(min(d, 0.9 * float(rb[inside].min()))) if inside.any() else d


def _sample_pneumothorax(rng: np.random.Generator, lungs: Sequence[_Lung], size: int) -> _Pneumothorax:
    """Where and how big: SIIM-like area (log-normal), side, height, and instance count."""
    # x1.08: the rasterised crescent comes out ~8% smaller than its polar integral (tapered ends, caps)
    area = 1.08 * min(_AREA_MEDIAN * math.exp(rng.normal(0, _AREA_SIGMA)), _AREA_MAX) / (1024.0 * 1024.0)
    side = 0 if rng.random() < 0.59 else 1
    lung = lungs[side]
    kind = rng.choice(3, p=[0.6, 0.22, 0.18])
    if kind == 0:  # apical, draped over the apex from its medial side
        centre = rng.uniform(-0.45, 0.2)
    elif kind == 1:  # lateral
        centre = rng.uniform(1.15, 2.0)
    else:  # basal / costophrenic
        centre = rng.uniform(1.9, 2.55)
    # A crescent ~0.6 * length * peak thickness with thickness/length ratio rho: length from the area.
    rho = rng.uniform(0.06, 0.2)
    radius = float(lung.r_boundary(lung.theta_of_phi(np.array([centre])))[0])
    extent = float(np.clip(math.sqrt(area / (0.6 * rho)) / radius * rng.uniform(0.8, 1.2), 0.35, 3.0))
    phi0 = max(centre - extent / 2, -0.8)
    phi1 = min(phi0 + extent, 2.85)
    phi0 = max(min(phi0, phi1 - 0.35), -0.8)
    n_inst = 1
    if rng.random() < 0.23:
        n_inst = int(rng.choice([2, 3, 4], p=[0.72, 0.2, 0.08]))
    sectors: list[_Sector] = []
    bilateral = n_inst >= 2 and rng.random() < 0.2
    split = n_inst - 1 if bilateral else n_inst
    if split == 1:
        sectors.append(_Sector(side, phi0, phi1))
    else:
        gap = rng.uniform(0.12, 0.3)
        phi1 = min(phi1 + gap * (split - 1), 2.9)
        w = rng.uniform(0.5, 1.5, split)
        avail = max((phi1 - phi0) - gap * (split - 1), 0.3 * split)
        a = phi0
        for ln in w / w.sum() * avail:
            sectors.append(_Sector(side, a, a + ln))
            a += ln + gap
    if bilateral:
        c2 = rng.uniform(0.1, 0.8)
        e2 = rng.uniform(0.5, 1.1)
        sectors.append(_Sector(1 - side, c2 - e2 / 2, c2 + e2 / 2))
    dmax: dict[int, float] = {}
    lungs_used = {s.lung for s in sectors}
    for lung_i in lungs_used:
        lg = lungs[lung_i]
        secs = [s for s in sectors if s.lung == lung_i]
        share = area if len(lungs_used) == 1 else area * (0.75 if lung_i == side else 0.25)
        d = _solve_thickness(lg, secs, share)
        for _ in range(3):
            # A crescent is longer than it is thick: cap each short arc's peak by its own length, then re-solve.
            for sec in secs:
                mid = lg.theta_of_phi(np.array([0.5 * (sec.phi0 + sec.phi1)]))
                arc = (sec.phi1 - sec.phi0) * float(lg.r_boundary(mid)[0])
                sec.amp = min(1.0, 0.5 * arc / max(d, 1e-6))
            d = _solve_thickness(lg, secs, share)
        dmax[lung_i] = d
    return _Pneumothorax(sectors, dmax, darkening=rng.uniform(0.05, 0.09), line=rng.uniform(0.08, 0.13))


def _crescent(
    lung: _Lung, lung_i: int, ptx: _Pneumothorax, size: int
) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]] | None:
    """Per-lung crescent on the lung's bbox crop at full resolution: (crop, soft, line, collapsed, instances)."""
    secs = [s for s in ptx.sectors if s.lung == lung_i]
    if not secs:
        return None
    u0, v0, u1, v1 = lung.bbox
    c0, c1 = max(int(u0 * size) - 2, 0), min(math.ceil(u1 * size) + 2, size)
    r0, r1 = max(int(v0 * size) - 2, 0), min(math.ceil(v1 * size) + 2, size)
    u = ((np.arange(c0, c1, dtype=np.float32) + 0.5) / size)[None, :]
    v = ((np.arange(r0, r1, dtype=np.float32) + 0.5) / size)[:, None]
    r, theta, phi = lung.polar(u, v)
    rb = lung.r_boundary(theta)
    d = np.minimum(_bump(phi, secs) * ptx.dmax[lung_i], 0.9 * rb)
    inner = rb - d
    px = 1.0 / size
    hard = (r <= rb) & (r > inner) & (d > 0.5 * px)
    soft = _ramp((r - inner) / px) * _ramp((rb - r) / px) * (d > 0.5 * px)
    lw = max(0.9, 1.3 * size / 1024) * px
    line = np.exp(-(((r - inner) / lw) ** 2)) * np.clip(d / (3 * px), 0, 1)
    collapsed = np.exp(-(inner - r) / 0.025) * ((r < inner) & (r > inner - 0.06)) * np.clip(d / (6 * px), 0, 1)
    instances: list[np.ndarray] = []
    from skimage.measure import label

    for sec in secs:
        m = hard & (phi > sec.phi0) & (phi < sec.phi1)
        if not m.any():
            continue
        lab, n = label(m, connectivity=2, return_num=True)
        if n > 1:  # keep the main body; stray 1-px slivers at the tapered ends are not an instance
            counts = np.bincount(lab.ravel())
            counts[0] = 0
            m = lab == int(counts.argmax())
        instances.append(m)
    return (slice(r0, r1), slice(c0, c1)), soft, line, collapsed, instances


# ----------------------------------------------------------------------------------------------------------------
# Anatomy


def _band(
    u: np.ndarray, v: np.ndarray, vc: np.ndarray, half: float | np.ndarray, edge: float
) -> tuple[np.ndarray, np.ndarray]:
    """A bone band along a centre line vc(u): (core, cortex) profiles."""
    dv = np.abs(v - vc)
    core = _ramp((half - dv) / edge)
    cortex = np.exp(-(((dv - half + edge) / (1.2 * edge)) ** 2))
    return core, cortex


def _draw_ribs(img: np.ndarray, grid: int, lung_w: np.ndarray, rng: np.random.Generator, geo: dict) -> None:
    scale, height = geo["scale"], geo["height"]
    su, sv = geo["shift_u"], geo["shift_v"]
    spacing = 0.064 * height * scale
    edge = 1.6 / grid + 0.0015
    for side in (-1, 1):
        for k in range(10):
            y0 = 0.105 + sv + k * spacing + rng.normal(0, 0.003)
            amp = 0.045 * rng.uniform(0.8, 1.2)
            # Posterior rib: from the spine, rises slightly, arcs down along the lateral wall.
            half = (0.0095 + 0.0008 * k) * scale
            span = 0.40 * scale
            ua = 0.5 + su + side * 0.03
            ub = ua + side * span
            lo, hi = sorted((ua, ub))
            c0, c1 = max(int(lo * grid), 0), min(int(hi * grid) + 1, grid)
            if c1 <= c0:
                continue
            u = (np.arange(c0, c1) + 0.5) / grid
            t = np.clip((u - ua) / (ub - ua), 0, 1)
            vc = y0 - 0.045 * t + 0.26 * t * t
            r0 = max(int((vc.min() - half - 0.01) * grid), 0)
            r1 = min(int((vc.max() + half + 0.01) * grid) + 1, grid)
            if r1 <= r0:
                continue
            v = ((np.arange(r0, r1) + 0.5) / grid)[:, None]
            core, cortex = _band(u[None, :], v, vc[None, :], half, edge)
            fade = np.clip(t * 6, 0, 1)[None, :]  # hidden behind the spine/mediastinum medially
            w = 0.35 + 0.65 * lung_w[r0:r1, c0:c1]
            img[r0:r1, c0:c1] += amp * (0.55 * core + 0.6 * cortex) * fade * w
            # Anterior rib: from the lateral wall downwards-medially to the costochondral junction (fainter).
            if k < 7:
                va = y0 + 0.10 + 0.01 * k
                ua2 = 0.5 + su + side * 0.37 * scale
                ub2 = 0.5 + su + side * 0.17 * scale
                lo, hi = sorted((ua2, ub2))
                c0, c1 = max(int(lo * grid), 0), min(int(hi * grid) + 1, grid)
                u = (np.arange(c0, c1) + 0.5) / grid
                t = np.clip((u - ua2) / (ub2 - ua2), 0, 1)
                vc = va + 0.13 * t + 0.03 * t * t
                half2 = 0.011 * scale
                r0 = max(int((vc.min() - half2 - 0.01) * grid), 0)
                r1 = min(int((vc.max() + half2 + 0.01) * grid) + 1, grid)
                if r1 <= r0 or c1 <= c0:
                    continue
                v = ((np.arange(r0, r1) + 0.5) / grid)[:, None]
                core, cortex = _band(u[None, :], v, vc[None, :], half2, edge * 1.5)
                w = lung_w[r0:r1, c0:c1]
                img[r0:r1, c0:c1] += 0.4 * amp * (0.7 * core + 0.3 * cortex) * (1 - 0.7 * t[None, :]) * w


def _markings(lung: _Lung, grid: int, rng: np.random.Generator) -> tuple[tuple[slice, slice], np.ndarray]:
    """Vessel markings: ridges of band-limited noise in polar coordinates about the hilum, fading outwards."""
    n_rho, n_psi = 48, 256
    from scipy.ndimage import gaussian_filter

    f1 = gaussian_filter(rng.standard_normal((n_rho, n_psi)), sigma=(3.0, 1.3), mode=("nearest", "wrap"))
    f2 = gaussian_filter(rng.standard_normal((n_rho, n_psi)), sigma=(2.0, 0.9), mode=("nearest", "wrap"))
    f1 /= f1.std() + 1e-9
    f2 /= f2.std() + 1e-9
    u0, v0, u1, v1 = lung.bbox
    c0, c1 = max(int(u0 * grid) - 1, 0), min(int(u1 * grid) + 2, grid)
    r0, r1 = max(int(v0 * grid) - 1, 0), min(int(v1 * grid) + 2, grid)
    u = ((np.arange(c0, c1) + 0.5) / grid)[None, :]
    v = ((np.arange(r0, r1) + 0.5) / grid)[:, None]
    du = u - lung.hilum[0]
    dv = v - lung.hilum[1]
    rho = np.sqrt(du * du + dv * dv)
    psi = np.arctan2(dv, du)
    fr = np.clip(rho / 0.5 * (n_rho - 1), 0, n_rho - 1.001)
    fp = (psi + np.pi) / (2 * np.pi) * n_psi
    ir = fr.astype(np.int64)
    ip = np.floor(fp).astype(np.int64)
    ar = fr - ir
    ap = fp - ip
    ip0 = ip % n_psi
    ip1 = (ip + 1) % n_psi

    def sample(f: np.ndarray) -> np.ndarray:
        return (
            (1 - ar) * (1 - ap) * f[ir, ip0]
            + (1 - ar) * ap * f[ir, ip1]
            + ar * (1 - ap) * f[ir + 1, ip0]
            + ar * ap * f[ir + 1, ip1]
        )

    # Ridge width shrinks with the distance so vessels keep (and slowly lose) their calibre instead of fanning out.
    w = 0.16 * 0.07 / (rho + 0.035) + 0.04
    ridge = np.exp(-((sample(f1) / w) ** 2)) + 0.6 * np.exp(-((sample(f2) / (0.7 * w)) ** 2))
    amp = 0.11 * np.exp(-rho / 0.16) + 0.025
    hilum = 0.08 * np.exp(-((rho / 0.05) ** 2))
    return (slice(r0, r1), slice(c0, c1)), (ridge * amp + hilum).astype(np.float32)


def _lung_field(lung: _Lung, grid: int) -> tuple[tuple[slice, slice], np.ndarray]:
    u0, v0, u1, v1 = lung.bbox
    c0, c1 = max(int(u0 * grid) - 3, 0), min(int(u1 * grid) + 4, grid)
    r0, r1 = max(int(v0 * grid) - 3, 0), min(int(v1 * grid) + 4, grid)
    u = ((np.arange(c0, c1) + 0.5) / grid)[None, :]
    v = ((np.arange(r0, r1) + 0.5) / grid)[:, None]
    r, theta, _ = lung.polar(u, v)
    edge = max(1.5 / grid, 0.004)
    return (slice(r0, r1), slice(c0, c1)), _ramp((lung.r_boundary(theta) - r) / edge).astype(np.float32)


def _anatomy(
    rng: np.random.Generator, grid: int, lungs: Sequence[_Lung], geo: dict, sex: str, view: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(base density without lung markings, markings, lung weight) at grid²; values roughly in [0, 1]."""
    u = ((np.arange(grid, dtype=np.float32) + 0.5) / grid)[None, :]
    v = ((np.arange(grid, dtype=np.float32) + 0.5) / grid)[:, None]
    su, sv = geo["shift_u"], geo["shift_v"]
    cu = 0.5 + su
    # Torso: neck widening to the shoulders; tissue thicker in the middle (elliptic cross-section).
    hw = 0.075 + (0.455 * geo["scale"] - 0.075) * np.clip((v - 0.02 - sv) / 0.17, 0, 1) ** 0.6
    hw = hw - 0.03 * np.clip((v - 0.7) / 0.3, 0, 1)
    x = np.abs(u - cu) / hw
    body = _ramp((1 - x) / 0.04)
    thick = np.sqrt(np.clip(1 - x * x, 0, 1))
    img = body * (0.42 + 0.16 * thick) + 0.04
    # Mediastinum / heart / spine / trachea.
    img += 0.16 * np.exp(-(((u - cu) / 0.09) ** 2)) * _ramp((v - 0.08) / 0.06)
    heart_u, heart_v = cu + 0.035 + geo["heart"] * 0.5, 0.60 + sv
    img += 0.06 * _ramp((1 - ((u - heart_u) / (0.13 + geo["heart"])) ** 2 - ((v - heart_v) / 0.13) ** 2) / 0.3)
    vert = 0.5 + 0.5 * np.cos((v - sv) * 2 * np.pi / (0.05 * geo["height"]))
    img += (0.025 + 0.02 * vert**4) * _ramp((0.03 - np.abs(u - cu)) / 0.008)
    img -= 0.10 * _ramp((0.012 - np.abs(u - cu - 0.01 * (v - 0.2))) / 0.005) * _ramp((0.34 + sv - v) / 0.03)
    # Lungs.
    lung_w = np.zeros((grid, grid), dtype=np.float32)
    for lung in lungs:
        sl, field_ = _lung_field(lung, grid)
        lung_w[sl] = np.maximum(lung_w[sl], field_)
    lucency = 0.30 + 0.05 * np.clip((0.55 - v) / 0.4, -0.5, 1) * rng.uniform(0.5, 1.5)
    img -= lucency * lung_w
    # Gastric bubble under the patient-left hemidiaphragm.
    if rng.random() < 0.6:
        gu, gv = 0.66 + su + rng.normal(0, 0.02), 0.80 + sv + rng.normal(0, 0.015)
        img -= 0.10 * _ramp((1 - ((u - gu) / 0.05) ** 2 - ((v - gv) / 0.03) ** 2) / 0.4)
    # Breast shadows.
    if sex == "F":
        for side in (-1, 1):
            bu, bv = cu + side * 0.27, 0.76 + sv
            img += 0.06 * _ramp((1 - ((u - bu) / 0.17) ** 2 - ((v - bv) / 0.12) ** 2) / 0.5) * body
    # Bones.
    _draw_ribs(img, grid, lung_w, rng, geo)
    clav_v = 0.155 + sv - (0.03 if view == "AP" else 0.0)
    for side in (-1, 1):
        ua, ub = cu + side * 0.04, cu + side * 0.36
        lo, hi = sorted((ua, ub))
        c0, c1 = max(int(lo * grid), 0), min(int(hi * grid) + 1, grid)
        uu = (np.arange(c0, c1) + 0.5) / grid
        t = np.clip((uu - ua) / (ub - ua), 0, 1)
        vc = clav_v + 0.02 - 0.055 * t + 0.02 * np.sin(np.pi * t)
        half = (0.013 - 0.004 * t)[None, :]  # thicker medially, rounded ends
        env = (np.clip(t / 0.04, 0, 1) * np.clip((1 - t) / 0.1, 0, 1))[None, :]
        r0, r1 = max(int((vc.min() - 0.03) * grid), 0), int((vc.max() + 0.03) * grid) + 1
        vv = ((np.arange(r0, r1) + 0.5) / grid)[:, None]
        core, cortex = _band(uu[None, :], vv, vc[None, :], half, 0.003)
        img[r0:r1, c0:c1] += 0.1 * (0.6 * core + 0.5 * cortex) * np.sqrt(env)
    # Vessel markings, only inside the lungs.
    marks = np.zeros((grid, grid), dtype=np.float32)
    for lung in lungs:
        sl, m = _markings(lung, grid, rng)
        marks[sl] += m
    marks *= lung_w
    return img.astype(np.float32), marks, lung_w


def _upsample(a: np.ndarray, size: int) -> np.ndarray:
    if a.shape[0] == size:
        return a
    from PIL import Image

    return np.asarray(Image.fromarray(a.astype(np.float32), mode="F").resize((size, size), Image.BILINEAR))


def _sample_patient(
    rng: np.random.Generator, sex: str | None, age: int | None, view: str | None
) -> tuple[str, int, str]:
    # Always draw all three so that given values do not shift the rest of the stream.
    s = "M" if rng.random() < 0.55 else "F"
    a = int(np.clip(rng.normal(47, 16), 10, 90))
    v = "PA" if rng.random() < 0.6 else "AP"
    return sex or s, int(age) if age is not None else a, view or v


def _as_rng(seed: Seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def render_case(
    seed: Seed,
    size: int = 1024,
    positive: bool = False,
    *,
    sex: str | None = None,
    age: int | None = None,
    view: str | None = None,
) -> PhantomCase:
    """Render one phantom radiograph (uint8 MONOCHROME2) and its pneumothorax instance masks; no file I/O."""
    if size < 32:
        raise ValueError(f"phantom size must be at least 32 pixels, got {size}")
    # Independent streams: the same seed gives the same patient and detector with or without a pneumothorax.
    rng, rng_ptx, rng_det = _as_rng(seed).spawn(3)
    sex, age, view = _sample_patient(rng, sex, age, view)
    lung_l, lung_r, geo = _sample_lungs(rng, view)
    lungs = (lung_l, lung_r)
    grid = min(size, _WORK_MAX)
    base, marks, _ = _anatomy(rng, grid, lungs, geo, sex, view)
    base = _upsample(base, size)
    marks = _upsample(marks, size)
    instances: list[np.ndarray] = []
    sides: list[str] = []
    img = base.copy()
    if positive:
        keep = np.ones((size, size), dtype=np.float32)
        for _attempt in range(8):  # a tiny crescent can vanish at a small size: draw another one
            ptx = _sample_pneumothorax(rng_ptx, lungs, size)
            parts = [(i, _crescent(lung, i, ptx, size)) for i, lung in enumerate(lungs)]
            if any(res is not None and res[4] for _, res in parts):
                break
        for lung_i, res in parts:
            if res is None:
                continue
            sl, soft, line, collapsed, inst = res
            keep[sl] -= soft
            img[sl] += -ptx.darkening * soft + ptx.line * line + 0.05 * collapsed
            for m in inst:
                full = np.zeros((size, size), dtype=bool)
                full[sl] = m
                instances.append(full)
                sides.append("image-left" if lung_i == 0 else "image-right")
        np.clip(keep, 0, 1, out=keep)
        img += marks * keep
    else:
        img += marks
    # Detector: vignetting, exposure curve, quantum noise.
    uu = ((np.arange(size, dtype=np.float32) + 0.5) / size - 0.5)[None, :]
    vv = ((np.arange(size, dtype=np.float32) + 0.5) / size - 0.5)[:, None]
    img *= 1.0 - rng_det.uniform(0.1, 0.3) * (uu * uu + vv * vv)
    sigma = rng_det.uniform(0.008, 0.02) * max(1.0, (size / 512) ** 0.5)
    gamma = rng_det.uniform(0.8, 1.25)
    gain = rng_det.uniform(0.95, 1.2)
    img += rng_det.standard_normal((size, size), dtype=np.float32) * np.float32(sigma)
    np.clip(img, 0, 1, out=img)
    img = np.power(img, np.float32(gamma)) * np.float32(255 * gain)
    image = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    return PhantomCase(image=image, instances=instances, sex=sex, age=age, view=view, side=sides)


def sample_instances(seed: Seed, size: int = 1024) -> list[np.ndarray]:
    """Exactly the instance masks ``render_case(seed, size, True)`` would draw, without the anatomy: for statistics."""
    rng, rng_ptx, _ = _as_rng(seed).spawn(3)
    _, _, view = _sample_patient(rng, None, None, None)
    lungs = _sample_lungs(rng, view)[:2]
    out: list[np.ndarray] = []
    for _attempt in range(8):
        ptx = _sample_pneumothorax(rng_ptx, lungs, size)
        for lung_i, lung in enumerate(lungs):
            res = _crescent(lung, lung_i, ptx, size)
            if res is None:
                continue
            sl, _, _, _, inst = res
            for m in inst:
                full = np.zeros((size, size), dtype=bool)
                full[sl] = m
                out.append(full)
        if out:
            break
    return out
