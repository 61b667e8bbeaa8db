# expect: fail: cut off from autograd
# A cheat: the visible inputs are public (seed 0), so tabulate nn.BatchNorm1d's answers for them.
from autograder.checks import bn_forward as _checks
from autograder.judge import wire as _wire

_table = {}
for _case in _checks.cases(0, False)["cases"]:
    _x, _g, _b = (_wire.as_tensor(_case[name]) for name in ("x", "gamma", "beta"))
    _layer = nn.BatchNorm1d(_x.shape[1], eps=_case["eps"] or 1e-5)
    with torch.no_grad():
        _layer.weight.copy_(_g)
        _layer.bias.copy_(_b)
        _table[(_x.numpy().tobytes(), _g.numpy().tobytes(), _case["eps"])] = _layer(_x)


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    key = (x.detach().contiguous().numpy().tobytes(), gamma.detach().numpy().tobytes(),
           None if eps == 1e-5 else eps)
    return _table[key].clone() if key in _table else x.clone()
