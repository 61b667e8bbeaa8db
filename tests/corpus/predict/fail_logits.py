# expect: fail: returned logits
def predict(model, x):
    modes = [m.training for m in model.modules()]
    model.eval()
    with torch.no_grad():
        logits = model[:-1](x)   # skip the Sigmoid
    for m, t in zip(model.modules(), modes):
        m.training = t
    return logits
