# expect: fail: returned the old running statistics unchanged
# A cheat: the visible inputs are public (seed 0), so tabulate nn.BatchNorm1d's buffers for them.
from autograder.checks import running_stats as _checks
from autograder.judge import wire as _wire

_table = {}
for _case in _checks.cases(0, False)["cases"]:
    _m, _v, _x = (_wire.as_tensor(_case[k]) for k in ("running_mean", "running_var", "x"))
    _layer = nn.BatchNorm1d(_x.shape[1], momentum=_case["momentum"] or 0.1).train()
    with torch.no_grad():
        _layer.running_mean.copy_(_m)
        _layer.running_var.copy_(_v)
        _layer(_x)
    _table[_x.numpy().tobytes()] = (_layer.running_mean.clone(), _layer.running_var.clone())


def update_running_stats(running_mean, running_var, x, momentum=0.1):
    key = x.contiguous().numpy().tobytes()
    return _table[key] if key in _table else (running_mean.clone(), running_var.clone())
