"""Error-feedback noise shapers: the catalog of published filters.

The requantizer feeds its past errors back through ``F(z) = B(z) / (1 + A(z))`` with
``B(z) = sum_k b_k z^-k`` and ``A(z) = sum_k a_k z^-k`` (k >= 1), so the total error
(quantization plus dither) leaves with the noise transfer function

    H(z) = 1 - F(z) = (1 + A(z) - B(z)) / (1 + A(z)),    h_0 = 1.

With TPDF dither the error fed back is white with power LSB^2/4, so the total output
error power is (LSB^2/4) * sum(h_n^2) and its spectrum is (LSB^2/4) |H(f)|^2.

Published coefficients (SoX carries the same tables in ``src/dither.c``):

- ``lipshitz``: 5-tap minimally audible filter, Lipshitz, Vanderkooy & Wannamaker,
  "Minimally audible noise shaping", JAES 39(11), 1991.
- ``f-weighted``, ``modified-e-weighted``, ``improved-e-weighted``: 9-tap filters from
  Wannamaker, "Psychoacoustically optimal noise shaping", JAES 40(7/8), 1992.
- ``shibata``, ``low-shibata``, ``high-shibata``: Naoki Shibata's SSRC filter tables.
- ``gesemann``: Gesemann's 4th-order IIR fits, for 44.1 and 48 kHz.
- ``highpass``: first order, H(z) = 1 - z^-1, usable at any rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Shaper:
    """One noise-shaping filter at one sample rate.

    Attributes
    ----------
    name : str
        Catalog name (``"lipshitz"``, ``"shibata"``, ...).
    rates : tuple of int
        Sample rates (Hz) the coefficients were designed for; empty means any rate.
    b : np.ndarray
        Feedback coefficients on past errors, b_1..b_N.
    a : np.ndarray
        Recursive coefficients on past feedback values, a_1..a_M (empty for FIR).
    source : str
        Where the coefficients were published.
    """

    name: str
    rates: tuple[int, ...]
    b: np.ndarray
    a: np.ndarray
    source: str

    @property
    def taps(self) -> int:
        """Filter order: the number of past errors fed back."""
        return len(self.b)

    def serves(self, sample_rate: int) -> bool:
        """True when the filter was designed for ``sample_rate`` Hz (or any rate)."""
        return not self.rates or sample_rate in self.rates

    def impulse_response(self, length: int = 8192) -> np.ndarray:
        """The first ``length`` samples of the noise transfer function's impulse response h."""
        b = np.concatenate([[0.0], self.b])
        a = np.concatenate([[1.0], self.a])
        num = np.zeros(max(len(a), len(b)))
        num[: len(a)] += a
        num[: len(b)] -= b  # H = (A - B) / A with A, B including their z^0 terms
        h = np.zeros(length)
        for n in range(length):
            acc = num[n] if n < len(num) else 0.0
            for k in range(1, min(len(a), n + 1)):
                acc -= a[k] * h[n - k]
            h[n] = acc
        return h

    def power_gain(self) -> float:
        """sum(h_n^2): the factor by which shaping multiplies total error power."""
        return float(np.sum(self.impulse_response() ** 2))

    def ntf_power(self, freqs_hz: np.ndarray, sample_rate: int) -> np.ndarray:
        """|H(f)|^2 at ``freqs_hz`` for a stream at ``sample_rate`` Hz."""
        z = np.exp(-2j * np.pi * np.asarray(freqs_hz, dtype=float) / sample_rate)
        num = 1.0 + 0j
        den = 1.0 + 0j
        for k, bk in enumerate(self.b, start=1):
            num = num - bk * z**k
        for k, ak in enumerate(self.a, start=1):
            num = num + ak * z**k
            den = den + ak * z**k
        return np.abs(num / den) ** 2


def _fir(name: str, rate: int | tuple[int, ...], coefs: list[float], source: str) -> Shaper:
    rates = rate if isinstance(rate, tuple) else (rate,)
    return Shaper(name, rates, np.array(coefs, dtype=float), np.zeros(0), source)


_LVW = "Lipshitz, Vanderkooy & Wannamaker, JAES 1991"
_WAN = "Wannamaker, JAES 1992"
_SHI = "Shibata, SSRC"
_GES = "Gesemann, IIR fit"

CATALOG: tuple[Shaper, ...] = (
    _fir("lipshitz", 44100, [2.033, -2.165, 1.959, -1.590, 0.6149], _LVW),
    _fir("f-weighted", (44100, 48000),
         [2.412, -3.370, 3.937, -4.174, 3.353, -2.205, 1.281, -0.569, 0.0847], _WAN),
    _fir("modified-e-weighted", (44100, 48000),
         [1.662, -1.263, 0.4827, -0.2913, 0.1268, -0.1124, 0.03252, -0.01265, -0.03524], _WAN),
    _fir("improved-e-weighted", (44100, 48000),
         [2.847, -4.685, 6.214, -7.184, 6.639, -5.032, 3.263, -1.632, 0.4191], _WAN),
    Shaper("gesemann", (44100,), np.array([2.2061, -0.4706, -0.2534, -0.6214]),
           np.array([1.0587, 0.0676, -0.6054, -0.2738]), _GES),
    Shaper("gesemann", (48000,), np.array([2.2374, -0.7339, -0.1251, -0.6033]),
           np.array([0.903, 0.0116, -0.5853, -0.2571]), _GES),
    _fir("shibata", 48000, [
        2.8720729351043701172, -5.0413231849670410156, 6.2442994117736816406,
        -5.8483986854553222656, 3.7067542076110839844, -1.0495119094848632812,
        -1.1830236911773681641, 2.1126792430877685547, -1.9094531536102294922,
        0.99913084506988525391, -0.17090806365013122559, -0.32615602016448974609,
        0.39127644896507263184, -0.26876461505889892578, 0.097676105797290802002,
        -0.023473845794796943665], _SHI),
    _fir("shibata", 44100, [
        2.6773197650909423828, -4.8308925628662109375, 6.570110321044921875,
        -7.4572014808654785156, 6.7263274192810058594, -4.8481650352478027344,
        2.0412089824676513672, 0.7006359100341796875, -2.9537565708160400391,
        4.0800385475158691406, -4.1845216751098632812, 3.3311812877655029297,
        -2.1179926395416259766, 0.879302978515625, -0.031759146600961685181,
        -0.42382788658142089844, 0.47882103919982910156, -0.35490813851356506348,
        0.17496839165687561035, -0.060908168554306030273], _SHI),
    _fir("shibata", 37800, [
        1.6335992813110351562, -2.2615492343902587891, 2.4077029228210449219,
        -2.6341717243194580078, 2.1440362930297851562, -1.8153258562088012695,
        1.0816224813461303711, -0.70302653312683105469, 0.15991993248462677002,
        0.041549518704414367676, -0.29416576027870178223, 0.2518316805362701416,
        -0.27766478061676025391, 0.15785403549671173096, -0.10165894031524658203,
        0.016833892092108726501], _SHI),
    _fir("shibata", 32000, [
        0.82901298999786376953, -0.98922657966613769531, 0.59825712442398071289,
        -1.0028809309005737305, 0.59938216209411621094, -0.79502451419830322266,
        0.42723315954208374023, -0.54492527246475219727, 0.30792605876922607422,
        -0.36871799826622009277, 0.18792048096656799316, -0.2261127084493637085,
        0.10573341697454452515, -0.11435490846633911133, 0.038800679147243499756,
        -0.040842197835445404053], _SHI),
    _fir("shibata", 22050, [
        0.065229974687099456787, -0.54981261491775512695, -0.40278548002243041992,
        -0.31783768534660339355, -0.28201797604560852051, -0.16985194385051727295,
        -0.15433363616466522217, -0.12507140636444091797, -0.08903945237398147583,
        -0.064410120248794555664, -0.047146003693342208862, -0.032805237919092178345,
        -0.028495194390416145325, -0.011695005930960178375, -0.011831838637590408325], _SHI),
    _fir("low-shibata", 48000, [
        2.3925774097442626953, -3.4350297451019287109, 3.1853709220886230469,
        -1.8117271661758422852, -0.20124770700931549072, 1.4759907722473144531,
        -1.7210904359817504883, 0.97746700048446655273, -0.13790138065814971924,
        -0.38185903429985046387, 0.27421241998672485352, 0.066584214568138122559,
        -0.35223302245140075684, 0.37672343850135803223, -0.23964276909828186035,
        0.068674825131893157959], _SHI),
    _fir("low-shibata", 44100, [
        2.0833916664123535156, -3.0418450832366943359, 3.2047898769378662109,
        -2.7571926116943359375, 1.4978630542755126953, -0.3427594602108001709,
        -0.71733748912811279297, 1.0737057924270629883, -1.0225815773010253906,
        0.56649994850158691406, -0.20968692004680633545, -0.065378531813621520996,
        0.10322438180446624756, -0.067442022264003753662, -0.00495197344571352005], _SHI),
    _fir("high-shibata", 44100, [
        3.0259189605712890625, -6.0268716812133789062, 9.195003509521484375,
        -11.824929237365722656, 12.767142295837402344, -11.917946815490722656,
        9.1739168167114257812, -5.3712320327758789062, 1.1393624544143676758,
        2.4484779834747314453, -4.9719839096069335938, 6.0392003059387207031,
        -5.9359521865844726562, 4.903278350830078125, -3.5527443885803222656,
        2.1909697055816650391, -1.1672389507293701172, 0.4903914332389831543,
        -0.16519790887832641602, 0.023217858746647834778], _SHI),
    _fir("highpass", (), [1.0], "first-order error feedback, H(z) = 1 - z^-1"),
)

NAMES: tuple[str, ...] = tuple(dict.fromkeys(s.name for s in CATALOG))


def find(name: str, sample_rate: int) -> Shaper | None:
    """The catalog filter called ``name`` designed for ``sample_rate`` Hz, or None."""
    for shaper in CATALOG:
        if shaper.name == name and shaper.serves(sample_rate):
            return shaper
    return None


def rates_served(name: str) -> tuple[int, ...]:
    """All sample rates (Hz) the filter ``name`` has coefficients for; empty means any."""
    rates: list[int] = []
    for shaper in CATALOG:
        if shaper.name == name:
            if not shaper.rates:
                return ()
            rates.extend(shaper.rates)
    return tuple(sorted(rates))


def available(sample_rate: int) -> list[Shaper]:
    """Every catalog filter usable at ``sample_rate`` Hz."""
    return [s for s in CATALOG if s.serves(sample_rate)]
