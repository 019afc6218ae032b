"""Re-measure the silent errors of issue 18 (curvature on user models) against the dense reverse-over-reverse
reference: ``PYTHONPATH=<checkout> python bench/user_models.py`` prints, per case, the largest error relative to
the reference (eigenvalues: to the largest |eigenvalue|; products: entries to the spectral norm of H), so the
same script run on an older checkout shows what it got wrong."""
import sys, warnings, torch, torch.nn as nn, torch.nn.functional as F
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent / "tests"))
from user_cases import make, reference_hessian, DT
from landscape.curvature import HessianOperator, dense_hessian
warnings.simplefilter("ignore")
def rel_eig(H, R):
    a, b = torch.linalg.eigvalsh(H), torch.linalg.eigvalsh(R)
    return float((a - b).abs().max() / b.abs().max())
def prod_err(H, R): return float((H - R).abs().max() / torch.linalg.matrix_norm(R, 2))
def dense(op, n): return op @ torch.eye(n, dtype=DT)
out = {}
# 1. reduction="sum" over several batches
c = make("sum_loss_batches"); R = reference_hessian(c)
H = dense(HessianOperator(c.model, c.loss_fn, c.data), c.n); out["sum over 3 batches: eigenvalues"] = rel_eig(H, R)
# 2. .data edits after the graph is kept
for edit in ("vector_to_parameters", "data_add_"):
    c = make("layernorm_mlp"); op = HessianOperator(c.model, c.loss_fn, c.data); dense(op, c.n)
    ps = list(c.model.parameters()); g = torch.Generator().manual_seed(5)
    if edit == "vector_to_parameters":
        f = nn.utils.parameters_to_vector(ps); nn.utils.vector_to_parameters(f + 0.3 * torch.randn(f.shape, generator=g, dtype=DT), ps)
    else:
        c.model[3].weight.data.add_(0.3 * torch.randn(c.model[3].weight.shape, generator=g, dtype=DT))
    out[f"{edit}: eigenvalues"] = rel_eig(dense(op, c.n), reference_hessian(c))
# 3. sequence-first (T, N) targets
c = make("lstm_sequence_first"); R = reference_hessian(c)
try:
    op = HessianOperator(c.model, c.loss_fn, c.data, **c.options)
except TypeError:
    op = HessianOperator(c.model, c.loss_fn, c.data)
H = dense(op, c.n); out["sequence-first: products"] = prod_err(H, R); out["sequence-first: eigenvalues"] = rel_eig(H, R)
# 4. a submodule switched to eval
c = make("batchnorm_train"); c.data = c.data[0]; c.batches = c.batches[:1]; c.weights = [1.0]
op = HessianOperator(c.model, c.loss_fn, c.data); dense(op, c.n); c.model[1].eval()
out["submodule eval: products"] = prod_err(dense(op, c.n), reference_hessian(c))
# 7. batch norm buffers
c = make("batchnorm_train"); op = HessianOperator(c.model, c.loss_fn, c.data)
from landscape.curvature import eigenvalues, trace
eigenvalues(op, 2, seed=0); trace(op, num_matvecs=12, seed=0)
out["batchnorm: num_batches_tracked rise"] = int(c.model[1].num_batches_tracked)
# 5. transformer on the CPU
c = make("transformer_encoder")
try:
    out["transformer: products"] = prod_err(dense(HessianOperator(c.model, c.loss_fn, c.data), c.n), reference_hessian(c))
except RuntimeError as e:
    out["transformer: products"] = "error: " + str(e)[:70]
for k, v in out.items(): print(f"{k:40s} {v:.2e}" if isinstance(v, float) else f"{k:40s} {v}")
