# expect: pass
def train_epoch(model, loader, optimizer, loss_fn):
    model.train()
    losses = []
    for inputs, targets in loader:
        optimizer.zero_grad()
        h = inputs
        for layer in model:          # the same computation as model(inputs)
            h = layer(h)
        loss = loss_fn(h, targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)
