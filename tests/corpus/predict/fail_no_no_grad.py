# expect: fail: torch.no_grad()
def predict(model, x):
    modes = [m.training for m in model.modules()]
    model.eval()
    p = model(x)
    for m, t in zip(model.modules(), modes):
        m.training = t
    return p
