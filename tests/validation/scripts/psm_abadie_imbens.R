# Oracle: Abadie-Imbens (2006) standard errors and the bias-corrected estimator
# (Abadie-Imbens 2011) of nearest-neighbour matching (ATT, with replacement, ties kept)
# from R's Matching package, and MatchIt's standardized mean differences, on the
# Lalonde NSW data already stored in tests/validation/data/lalonde.csv (scores from R's
# glm, written by psm_matching.R). Debian packages r-cran-matching, r-cran-matchit.
#   Rscript tests/validation/scripts/psm_abadie_imbens.R
suppressMessages({library(Matching); library(MatchIt)})
here <- "tests/validation"
d <- read.csv(file.path(here, "data", "lalonde.csv"))
covs <- c("age", "educ", "black", "hispan", "married", "nodegree", "re74", "re75")
X <- as.matrix(d[, covs])
out <- list(matching_version = as.character(packageVersion("Matching")),
            matchit_version = as.character(packageVersion("MatchIt")))
run <- function(name, x, ...) {
  m <- Match(Y = d$re78, Tr = d$treat, X = x, estimand = "ATT", ...)
  out[[name]] <<- list(est = unname(m$est[1, 1]), se = unname(m$se),
                       est_noadj = unname(m$est.noadj), se_standard = unname(m$se.standard),
                       n_matched_pairs = length(m$index.treated))
}
# on the propensity score
run("ps_m1_v1", d$pscore, M = 1, Var.calc = 1)
run("ps_m3_v2", d$pscore, M = 3, Var.calc = 2)
run("ps_m1_v0", d$pscore, M = 1, Var.calc = 0)  # homoskedastic (Match's default)
run("ps_m1_v1_bias", d$pscore, M = 1, Var.calc = 1, BiasAdjust = TRUE)
run("ps_m2_v1_bias_z", d$pscore, M = 2, Var.calc = 1, BiasAdjust = TRUE, Z = X)
# on the covariates: inverse-variance metric (Weight = 1, Match's default) and
# Mahalanobis (Weight = 2)
run("iv_m1_v1", X, M = 1, Var.calc = 1, Weight = 1)
run("iv_m4_v4_bias", X, M = 4, Var.calc = 4, Weight = 1, BiasAdjust = TRUE)
run("mah_m1_v1", X, M = 1, Var.calc = 1, Weight = 2)
run("mah_m2_v2_bias", X, M = 2, Var.calc = 2, Weight = 2, BiasAdjust = TRUE)
# calipers in standard deviations of each matching variable (R's caliper=); the SE is
# not compared here: with a caliper Match divides by all treated, dropped ones included
run("ps_m1_cal", d$pscore, M = 1, Var.calc = 1, caliper = 0.05)
run("iv_m1_cal", X, M = 1, Var.calc = 1, Weight = 1, caliper = 0.5)
for (nm in c("ps_m1_cal", "iv_m1_cal")) {
  m <- Match(Y = d$re78, Tr = d$treat, X = if (nm == "ps_m1_cal") d$pscore else X,
             M = 1, Var.calc = 1, caliper = if (nm == "ps_m1_cal") 0.05 else 0.5)
  out[[nm]]$n_treated_matched <- length(unique(m$index.treated))
}
# MatchIt's standardized mean differences (ATT: difference in means over the treated
# group's SD; binary covariates sqrt(p(1 - p))), before matching and with the weights of
# a 1:1 nearest-neighbour match with replacement on the stored score
mi <- matchit(treat ~ age + educ + black + hispan + married + nodegree + re74 + re75,
              data = d, method = "nearest", distance = d$pscore, replace = TRUE)
s <- summary(mi)
out[["matchit_smd"]] <- list(
  variables = covs, weights = unname(mi$weights),
  smd_all = unname(s$sum.all[covs, "Std. Mean Diff."]),
  smd_matched = unname(s$sum.matched[covs, "Std. Mean Diff."]))
writeLines(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA),
           file.path(here, "oracles", "psm_abadie_imbens.json"))
