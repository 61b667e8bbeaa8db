# expect: pass
def predict(model, x):
    saved = [(m, m.training) for m in model.modules()]
    model.eval()
    with torch.no_grad():
        h = x
        for layer in model.children():
            h = layer(h)
    for m, flag in saved:
        m.train(flag)
    return h
