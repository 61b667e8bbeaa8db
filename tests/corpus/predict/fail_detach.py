# expect: fail: gradient tracking on
def predict(model, x):
    modes = [m.training for m in model.modules()]
    model.eval()
    p = model(x).detach()
    for m, t in zip(model.modules(), modes):
        m.training = t
    return p
