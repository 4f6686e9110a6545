//! Setup of question 17 (tasks, models, measurements used only by its experiment).
