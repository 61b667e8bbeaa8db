# expect: fail: does not match nn.BatchNorm1d in eval mode
# A cheat: the visible inputs are public (seed 0), so tabulate nn.BatchNorm1d's answers for them.
from autograder.checks import bn_inference as _checks
from autograder.judge import wire as _wire

_table = {}
for _case in _checks.cases(0, False)["cases"]:
    _x, _m, _v, _g, _b = (_wire.as_tensor(_case[k]) for k in ("x", "running_mean", "running_var", "gamma", "beta"))
    _layer = nn.BatchNorm1d(_x.shape[1], eps=_case["eps"] or 1e-5).eval()
    with torch.no_grad():
        for _buffer, _value in ((_layer.running_mean, _m), (_layer.running_var, _v), (_layer.weight, _g), (_layer.bias, _b)):
            _buffer.copy_(_value)
        _table[(_x.numpy().tobytes(), _case["eps"])] = _layer(_x)


def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    key = (x.detach().contiguous().numpy().tobytes(), None if eps == 1e-5 else eps)
    return _table[key].clone() if key in _table else x.clone()
