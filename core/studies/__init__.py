"""What the pages show, computed apart from the maths it calls: each study takes a page's
validated settings and returns the numbers its figures draw (`temperature`, `latent`,
`graphs`, `structures`), and `formulas` holds the text of the maths beside every picture."""
