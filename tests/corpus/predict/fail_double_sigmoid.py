# expect: fail: applied a sigmoid
def predict(model, x):
    modes = [m.training for m in model.modules()]
    model.eval()
    with torch.no_grad():
        p = torch.sigmoid(model(x))
    for m, t in zip(model.modules(), modes):
        m.training = t
    return p
