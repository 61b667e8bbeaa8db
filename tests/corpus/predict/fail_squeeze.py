# expect: fail: no squeeze or argmax
def predict(model, x):
    saved = [(m, m.training) for m in model.modules()]
    model.eval()
    with torch.no_grad():
        out = model(x).squeeze(1)
    for m, flag in saved:
        m.training = flag
    return out
