# expect: fail: the grader's own reference computation
import types

from autograder.checks import _bn_reference

# a copy of the reference function under another name is still the reference
update = types.FunctionType(_bn_reference.running_update.__code__, _bn_reference.__dict__, "update")


def update_running_stats(running_mean, running_var, x, momentum=0.1):
    new_mean, new_var = update(running_mean, running_var, x, momentum)
    return new_mean.to(x.dtype), new_var.to(x.dtype)
