"""How large are a shapes-demo checkpoint's image tokens next to its text
embeddings? Prints the mean L2 norm of the embedding rows and the mean /
min / max norm of the adapter's output tokens (the rows the LLM receives in
place of the image placeholders) over the held-out images. An image token
far larger than everything attention and the MLPs add to it keeps its
residual, and so its keys, fixed through the LLM. Idefics3 or LLaVA layout,
loaded with transformers.

  .venv/bin/python scripts/diag/image_norms.py runs/shapes \\
      "runs/shapes-data/heldout-*.tar" [images]
"""
import sys

import torch

from shapes_eval_hf import load, pixels, tar_records


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    m, cfg, S, n_tok = load(sys.argv[1])
    idefics = cfg.model_type == "idefics3"
    emb = m.get_input_embeddings().weight
    print(f"text embedding rows: mean norm {emb.norm(dim=1).mean().item():.3f} ({emb.shape[0]} rows)")
    norms = []
    for js, png in tar_records(sys.argv[2], "json"):
        if png is None:
            continue
        with torch.no_grad():
            f = m.model.get_image_features(pixel_values=pixels(png, S, idefics))
        f = getattr(f, "pooler_output", f)
        f = f[0] if isinstance(f, (list, tuple)) else f
        norms.append(f.reshape(-1, f.shape[-1]).norm(dim=1))
        if len(norms) == limit:
            break
    n = torch.cat(norms)
    print(f"image tokens ({len(norms)} images, {n.numel()} tokens): mean norm {n.mean():.3f}, "
          f"min {n.min():.3f}, max {n.max():.3f}")


if __name__ == "__main__":
    main()
