# expect: pass
@torch.no_grad()
def predict(model, x):
    saved = [(m, m.training) for m in model.modules()]
    model.eval()
    out = model(x)
    for m, t in saved:
        m.train(t)
    return out
