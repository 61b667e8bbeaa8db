# expect: fail: gradient tracking on
def predict(model, x):
    saved = [(m, m.training) for m in model.modules()]
    model.eval()
    out = model[:](x).detach()   # a slice of the model: the same layers, gradients tracked
    for m, flag in saved:
        m.training = flag
    return out
