# expect: pass
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    rows = []
    for row in x:                      # one example at a time: the batch doesn't matter at inference
        rows.append(gamma * (row - running_mean) / (running_var + eps) ** 0.5 + beta)
    return torch.stack(rows)
