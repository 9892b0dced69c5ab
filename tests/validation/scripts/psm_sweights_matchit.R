# Oracle: PSM-DID with sampling weights (MatchIt's s.weights) on a small panel.
# Matching on the base-year cross-section with MatchIt (score from glm weighted by the
# s.weights, MatchIt's default), balance from summary.matchit, the DID from lm() with
# weights = matching weights x sampling weights and sandwich's clustered HC1 SE.
# MatchIt has no kernel matching: the kernel case computes psmatch2's Epanechnikov
# weights here from their formula on the weighted-glm score.
# Writes tests/validation/data/psm_sweights.csv and
# tests/validation/oracles/psm_sweights_matchit.json.
#   Rscript tests/validation/scripts/psm_sweights_matchit.R
suppressMessages({library(MatchIt); library(sandwich)})
here <- "tests/validation"
set.seed(20261202)
n <- 150; years <- 2001:2004
u <- data.frame(unit = 1:n, a1 = rnorm(n), a2 = runif(n), a3 = rbinom(n, 1, 0.4),
                s0 = exp(rnorm(n, 0, 0.5)), fe = rnorm(n))
u$ever <- rbinom(n, 1, plogis(-1.2 + 0.8 * u$a1 + 1.0 * u$a2 + 0.6 * u$a3))
d <- merge(u, data.frame(year = years))
d <- d[order(d$unit, d$year), ]
d$x1 <- d$a1 + rnorm(nrow(d), 0, 0.3)
d$x2 <- d$a2 + runif(nrow(d), -0.1, 0.1)
d$x3 <- ifelse(runif(nrow(d)) < 0.9, d$a3, 1 - d$a3)
# population-like weights that grow over time: a unit's weight varies across years
d$w <- round(d$s0 * (1 + 0.05 * (d$year - 2001)), 6)
d$d <- as.integer(d$ever == 1 & d$year >= 2003)
d$y <- d$fe + 0.1 * (d$year - 2001) + 0.5 * d$d + 0.3 * d$x1 + rnorm(nrow(d), 0, 0.5)
d <- d[, c("unit", "year", "d", "x1", "x2", "x3", "w", "y")]
d$y <- round(d$y, 10); d$x1 <- round(d$x1, 10); d$x2 <- round(d$x2, 10)
write.csv(d, file.path(here, "data", "psm_sweights.csv"), row.names = FALSE)
d <- read.csv(file.path(here, "data", "psm_sweights.csv"))  # the numbers Python reads

d$ever <- ave(d$d, d$unit, FUN = max)
cross <- d[d$year == 2002, ]  # the base year: the year before the first adoption
rownames(cross) <- NULL
fml <- ever ~ x1 + x2 + x3
covs <- c("x1", "x2", "x3")

balance <- function(m) {
  s <- summary(m, standardize = TRUE)
  pick <- function(tab) lapply(setNames(covs, covs), function(v) list(
    mean_treated = unname(tab[v, "Means Treated"]),
    mean_control = unname(tab[v, "Means Control"]),
    smd = unname(tab[v, "Std. Mean Diff."])))
  list(before = pick(s$sum.all), after = pick(s$sum.matched))
}

# psmatch2's scale of the matching weights: each treated spreads 1 over its matches
shares <- function(m) {
  mm <- m$match.matrix
  w <- setNames(rep(0, nrow(cross)), rownames(cross))
  for (i in rownames(mm)) {
    j <- mm[i, ]; j <- j[!is.na(j)]
    if (length(j)) { w[i] <- 1; w[j] <- w[j] + 1 / length(j) }
  }
  unname(w)
}

did <- function(unit_w, controls = character(0), by_match = TRUE) {
  p <- d
  p$mw <- unit_w[match(p$unit, cross$unit)]
  p <- p[p$mw > 0, ]
  p$ww <- if (by_match) p$mw * p$w else p$w
  f <- reformulate(c("d", controls, "factor(unit)", "factor(year)"), response = "y")
  fit <- lm(f, data = p, weights = ww)
  V <- vcovCL(fit, cluster = ~unit, type = "HC1")
  list(coef = unname(coef(fit)["d"]), se = unname(sqrt(V["d", "d"])), nobs = nobs(fit))
}

out <- list()
case <- function(name, m, ps, ...) {
  w <- shares(m)
  out[[name]] <<- list(pscore = unname(ps), unit = cross$unit, weight = w,
                       matchit_weight = unname(m$weights[rownames(cross)]),
                       balance = balance(m), did = did(w, ...))
}

# (binomial glm warns about non-integer weights; the fit is the weighted likelihood's)
ps_w <- suppressWarnings(glm(fml, family = binomial, data = cross, weights = w))
out$score_glm <- list(coef = unname(coef(ps_w)), se = unname(sqrt(diag(vcov(ps_w)))),
                      pscore = unname(fitted(ps_w)))
ps_u <- fitted(glm(fml, family = binomial, data = cross))
# MatchIt's own score with s.weights (its default): the weighted glm's
out$matchit_pscore <- unname(suppressWarnings(matchit(fml, data = cross, s.weights = ~w))$distance)

# Nearest neighbours on the score, the treated taken largest score first (MatchIt's
# m.order = "largest"), each given the nearest control still available. MatchIt 4.5.1
# (Debian's) pairs this data differently on its vectorised path (distance = the score
# vector) than on its general path, which follows that rule: without replacement 8 of
# 126 matched units differ, and with replace = TRUE, ratio = 2 it keeps 34 controls
# instead of the 53 that are some treated unit's two nearest (MatchIt's NEWS lists a
# fix for nearest matching with replace = TRUE and ratio > 1, #159). So the general
# path is used: the distance is given as the matrix of |score differences| and the
# treated are put first in decreasing score order, so that m.order = "data" is
# "largest". s.weights as in every case.
nearest <- function(ps, ...) {
  o <- order(-(ps * (cross$ever == 1)))
  cr <- cross[o, ]; p <- ps[o]; t <- cr$ever == 1
  suppressWarnings(matchit(fml, data = cr, method = "nearest", s.weights = ~w,
                           distance = abs(outer(p[t], p[!t], "-")), m.order = "data", ...))
}

m1 <- nearest(fitted(ps_w))
case("nn1", m1, fitted(ps_w))
case("nn1_controls", m1, fitted(ps_w), controls = "x1")
# 2 nearest with replacement; the DID weighted by the matching weights x s.weights, or,
# on the same matched rows, by the sampling weights alone
m2 <- nearest(fitted(ps_w), replace = TRUE, ratio = 2)
case("nn2_replace", m2, fitted(ps_w))
case("nn2_matched", m2, fitted(ps_w), by_match = FALSE)
# the score fitted without the sampling weights, which still weight the balance and
# the DID
case("nn1_unweighted_score", nearest(ps_u), ps_u)

# kernel matching (psmatch2, Epanechnikov, bandwidth 0.06, common support) on the
# weighted score: each control's weight sum_i K_ij / sum_j K_ij
p <- fitted(ps_w); tr <- cross$ever == 1
pc <- p[!tr]; pt <- p[tr]
on <- pt >= min(pc) & pt <= max(pc)
K <- outer(pt, pc, function(a, b) { z <- (b - a) / 0.06; ifelse(abs(z) < 1, 0.75 * (1 - z^2), 0) })
on <- on & rowSums(K) > 0
Kw <- K[on, , drop = FALSE] / rowSums(K[on, , drop = FALSE])
kw <- numeric(nrow(cross)); kw[which(tr)[on]] <- 1; kw[!tr] <- colSums(Kw)
out$kernel <- list(pscore = unname(p), unit = cross$unit, weight = kw, did = did(kw))

writeLines(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA),
           file.path(here, "oracles", "psm_sweights_matchit.json"))
