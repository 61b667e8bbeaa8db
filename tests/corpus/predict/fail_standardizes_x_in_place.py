# expect: fail: changed the x it was given
def predict(model, x):
    saved = [(m, m.training) for m in model.modules()]
    model.eval()
    with torch.no_grad():
        out = model(x)
        x.clamp_(-3.0, 3.0)   # "cleans" the caller's data in place afterwards
    for m, flag in saved:
        m.training = flag
    return out
