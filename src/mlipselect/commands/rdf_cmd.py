"""Partial radial distribution functions of frames, for every species pair, with block errors.

Writes a CSV with columns r, one per species pair (Na-Na, Na-Cl, Cl-Cl for NaCl; Cu-Cu for
copper) and their standard errors <pair>_err over blocks of consecutive frames. With
--reference, also compares each pair with a reference g(r) CSV: integrated absolute
difference, first-peak position and height errors, and the short-range artifact (weight of
g(r) below the reference's first rise).
"""

from pathlib import Path

PROFILE = "optional"


def configure(p) -> None:
    p.add_argument("frames", type=Path, help="frames (extxyz or any ASE format)")
    p.add_argument("--out", required=True, type=Path, help="g(r) table to write (CSV)")
    p.add_argument("--rmax", type=float, help="largest distance, A")
    p.add_argument("--bins", type=int, help="number of bins on [0, rmax)")
    p.add_argument("--blocks", type=int, help="blocks of frames for the standard error")
    p.add_argument("--reference", type=Path, help="reference g(r) CSV to compare with")
    p.add_argument("--metrics", type=Path, help="write the comparison here (JSON)")


def run(args) -> int:
    import json

    from mlipselect.analysis.rdf import compare_with_reference, compute_rdf, read_rdf_csv
    from mlipselect.config import profile_or_defaults
    from mlipselect.errors import InputError
    from mlipselect.io import atomic_path, claim_output
    from mlipselect.pool.frames_io import iread_frames

    if args.metrics and not args.reference:
        raise InputError("--metrics needs --reference")
    for out in (args.out, args.metrics):
        if out is not None:
            claim_output(out, args.overwrite, inputs=[args.frames, args.reference])
    cfg = {**profile_or_defaults(args.profile).section("rdf"),
           **{k: getattr(args, k) for k in ("rmax", "bins", "blocks")
              if getattr(args, k) is not None}}
    reference = read_rdf_csv(args.reference) if args.reference else None
    rdf = compute_rdf(iread_frames(args.frames, require=()), where=str(args.frames), **cfg)
    rdf.write_csv(args.out)
    print(f"g(r) of {rdf.frames} frames -> {args.out}")
    if reference is not None:
        metrics = [compare_with_reference(rdf, reference, pair) for pair in rdf.pairs]
        for m in metrics:
            print(f"{m['pair']:>6}: |g - g_ref| {m['iae']:.3f} A, first peak "
                  f"{m['peak_r_error']:+.3f} A / {m['peak_g_error']:+.3f}, "
                  f"short-range artifact {m['artifact']:.4f} A (below {m['r_rise']:.2f} A)")
        if args.metrics:
            with atomic_path(args.metrics) as tmp:
                tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    return 0
