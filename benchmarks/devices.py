"""SchNet at the paper's scale (1000 ions) on the CPU and, where torch sees one, on the GPU.

For each SchNet size of the paper profile: seconds per training epoch per frame (our full fit
path: batching, validation, early-stopping bookkeeping), per energy+forces call, and per guarded
Bussi NVT step at 1400 K; and from them the paper profile's cost (512 frames, at most 1000
epochs; 1000 ps of MD). Each device is measured in a process of its own: the CPU run hides the
GPU (CUDA_VISIBLE_DEVICES=""), so that nothing but the device differs.

Usage: ``python benchmarks/devices.py [--frames FILE] [--out JSON]``. The frames (labelled
configurations of 1000 ions) default to rattled BMHTF crystals, which needs LAMMPS; ``--frames``
takes any labelled file ASE reads, for a machine without it. Prints a Markdown table.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.bench_models import labelled_frames, paper_profile  # noqa: E402

PAPER_FRAMES, PAPER_EPOCHS, PAPER_MD_STEPS = 512, 1000, 500_000


def measure(frames: list, size: str) -> dict:
    """Costs of one SchNet size on whatever device ``mlipselect.models.nn.device`` picks, as
    ``reproduce --estimate`` calibrates them, and the paper profile's cost from them."""
    from mlipselect.models.nn import device
    from mlipselect.study.estimate import model_costs

    costs = model_costs("nn", frames, paper_profile(), size)
    return {"device": str(device()), "ions": costs["ions"], "frames": len(frames),
            "epoch_s_per_frame": costs["train_s_per_frame"], "predict_s": costs["predict_s"],
            "md_step_s": costs["md_step_s"],
            "paper_training_hours": costs["train_s_per_frame"] * PAPER_FRAMES * PAPER_EPOCHS
            / 3600,
            "paper_md_hours": costs["md_step_s"] * PAPER_MD_STEPS / 3600}


def one_device(frames_file: str) -> list[dict]:
    import ase.io

    frames = ase.io.read(frames_file, ":")
    sizes = list(paper_profile()["train"]["nn"]["sizes"])
    return [{"size": size, **measure(frames, size)} for size in sizes]


def table(rows: list[dict]) -> str:
    lines = ["| size | device | training epoch per frame (ms) | energy+forces (ms) | MD step (ms) "
             "| paper training, 1000 epochs (h) | paper MD, 1000 ps (h) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['size']} | {r['device']} | {1e3 * r['epoch_s_per_frame']:.1f} "
                     f"| {1e3 * r['predict_s']:.1f} | {1e3 * r['md_step_s']:.1f} "
                     f"| {r['paper_training_hours']:.1f} | {r['paper_md_hours']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", help="labelled frames of 1000 ions (default: BMHTF crystals)")
    parser.add_argument("--out", default="devices.json")
    parser.add_argument("--one-device", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_device:
        print(json.dumps(one_device(args.frames)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        frames = args.frames
        if frames is None:
            import ase.io

            frames = str(Path(tmp) / "frames.extxyz")
            ase.io.write(frames, labelled_frames(1000, 16))
        import torch

        runs = {"cpu": {"CUDA_VISIBLE_DEVICES": ""}}
        if torch.cuda.is_available():
            runs[torch.cuda.get_device_name(0)] = {}
        else:
            print("no GPU visible to torch: measuring the CPU only")
        rows = []
        for name, env in runs.items():
            print(f"measuring on {name} ...", flush=True)
            out = subprocess.run([sys.executable, __file__, "--one-device", "--frames", frames],
                                 env={**os.environ, **env}, check=True, capture_output=True,
                                 text=True).stdout
            measured = json.loads(out.strip().splitlines()[-1])
            rows += [{**row, "device": name} for row in measured]
    result = {"cpu_threads": os.cpu_count(), "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(table(rows))


if __name__ == "__main__":
    main()
