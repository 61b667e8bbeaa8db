# expect: pass
def predict(model, x):
    # Each row alone: possible only in eval mode, and the same as the whole batch there.
    saved = [(m, m.training) for m in model.modules()]
    model.eval()
    with torch.no_grad():
        rows = [model(x[i:i + 1]) for i in range(x.shape[0])]
    for m, flag in saved:
        m.training = flag
    return torch.cat(rows, dim=0)
