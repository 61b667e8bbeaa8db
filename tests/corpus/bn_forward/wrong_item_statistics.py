# expect: fail: treated as constants
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    # per-feature statistics as Python floats: right values, but autograd cannot see them
    columns = []
    for j in range(x.shape[1]):
        column = x[:, j]
        m = column.mean().item()
        v = column.var(unbiased=False).item()
        columns.append((column - m) / (v + eps) ** 0.5)
    return gamma * torch.stack(columns, dim=1) + beta
