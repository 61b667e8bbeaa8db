# expect: pass
import numpy as np

def update_running_stats(running_mean, running_var, x, momentum=0.1):
    # buffers are updated outside autograd, so a NumPy computation is fine here
    with torch.no_grad():
        a = x.cpu().numpy()
        mean = torch.from_numpy(a.mean(axis=0)).to(x.dtype)
        var = torch.from_numpy(a.var(axis=0, ddof=1)).to(x.dtype)
        return (1 - momentum) * running_mean + momentum * mean, (1 - momentum) * running_var + momentum * var
