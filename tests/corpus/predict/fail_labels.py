# expect: fail: returned labels
def predict(model, x):
    modes = [m.training for m in model.modules()]
    model.eval()
    with torch.no_grad():
        p = (model(x) > 0.5).float()
    for m, t in zip(model.modules(), modes):
        m.training = t
    return p
