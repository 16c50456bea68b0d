"""The README's examples are what the program does today: every transcript in it
(``$ audioquant ...`` followed by the lines it prints) whose inputs ship in samples/ is run
and must print exactly those lines, and the bundled samples are what the README says."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def transcripts() -> list[tuple[list[str], list[str]]]:
    """``(argv, printed lines)`` of each ``$ audioquant`` line in a code block that is
    followed by output, and whose input files are all in the repository."""
    found = []
    blocks, block, inside = [], [], False
    for line in README.splitlines():
        if line.startswith("```"):
            if inside:
                blocks.append(block)
            block, inside = [], not inside
        elif inside:
            block.append(line)
    for lines in blocks:
        for i, line in enumerate(lines):
            if not line.startswith("$ audioquant "):
                continue
            output = []
            for after in lines[i + 1:]:
                if after.startswith("$ ") or not after.strip():
                    break
                output.append(after)
            argv = shlex.split(line[2:].split("#")[0])[1:]
            inputs = [a for a in argv if a.startswith("samples/")]
            if output and inputs and all((ROOT / a).exists() for a in inputs):
                found.append((argv, output))
    return found


def test_the_readme_has_transcripts_to_check():
    assert len(transcripts()) >= 1


@pytest.mark.parametrize(("argv", "printed"), transcripts(),
                         ids=[" ".join(argv) for argv, _ in transcripts()])
def test_readme_transcript_is_what_the_program_prints(tmp_path, argv, printed):
    args = [str(ROOT / a) if a.startswith("samples/") else a for a in argv]
    run = subprocess.run([sys.executable, "-m", "audioquant", *args], capture_output=True,
                         text=True, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr
    shown = [line.replace(str(ROOT) + "/", "") for line in run.stdout.splitlines()]
    assert shown == printed


def test_the_readme_says_what_the_bundled_sample_is():
    info = sf.info(str(ROOT / "samples" / "decay_float32.wav"))
    said = re.search(r"`samples/decay_float32.wav` is ([\d.]+) s of (\w+) 32-bit float at "
                     r"([\d.]+) kHz", README)
    assert said, "the README no longer describes samples/decay_float32.wav"
    seconds, layout, khz = said.groups()
    assert info.duration == pytest.approx(float(seconds))
    assert {"mono": 1, "stereo": 2}[layout] == info.channels
    assert info.samplerate == float(khz) * 1000 and info.subtype == "FLOAT"
