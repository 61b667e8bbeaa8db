# expect: pass
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    # one feature at a time, the way Algorithm 1 is written
    columns = []
    for j in range(x.shape[1]):
        column = x[:, j]
        m = column.sum() / len(column)
        v = ((column - m) * (column - m)).sum() / len(column)
        columns.append(gamma[j] * (column - m) / (v + eps) ** 0.5 + beta[j])
    return torch.stack(columns, dim=1)
