// The category tree as the phone pages use it: its leaves, flat.

/** Every leaf of the category tree, flat, with its domain's name: `[{code, name, domainName, …}]`. */
export function leaves(tree) {
  const found = [];
  const walk = (node, domain) => {
    for (const child of node.children ?? node.classes ?? []) {
      if (child.children || child.classes) walk(child, domain);
      else if (child.code) found.push({ ...child, domainName: domain });
    }
  };
  for (const d of tree?.domains ?? []) walk(d, d.name);
  return found;
}
