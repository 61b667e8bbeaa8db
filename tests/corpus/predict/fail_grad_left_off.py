# expect: fail: left gradient tracking switched off
def predict(model, x):
    saved = [(m, m.training) for m in model.modules()]
    model.eval()
    torch.set_grad_enabled(False)
    out = model(x)
    for m, flag in saved:
        m.training = flag
    return out
